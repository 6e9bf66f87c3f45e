/**
 * Builds the exact bytes sent in DATA. Structured messages go through nodemailer's MailComposer
 * (it encodes headers and bodies, so no body text can end DATA early); raw messages were already
 * normalised to CRLF by the parser. Composing once per message keeps the Message-ID and the
 * bytes identical on every route the message takes.
 */
import MailComposer from 'nodemailer/lib/mail-composer';
import type { MailAddress, QueueMessage, StructuredContent } from '../message/types.js';

const toNodemailer = (a: MailAddress): { name: string; address: string } => ({ name: a.name, address: a.address });

/** @returns the RFC 5322 message, CRLF line endings, without a Bcc header. */
export async function composeMessage(message: QueueMessage, date: Date = new Date()): Promise<Buffer> {
  if (message.content.kind === 'raw') return message.content.raw;
  const content: StructuredContent = message.content;
  const composer = new MailComposer({
    from: toNodemailer(content.from),
    to: content.to.map(toNodemailer),
    cc: content.cc.map(toNodemailer),
    // Bcc recipients are in the envelope only: never in the header block.
    ...(content.replyTo ? { replyTo: toNodemailer(content.replyTo) } : {}),
    ...(content.subject !== undefined ? { subject: content.subject } : {}),
    ...(content.text !== undefined ? { text: content.text } : {}),
    ...(content.html !== undefined ? { html: content.html } : {}),
    headers: { ...content.headers },
    attachments: content.attachments.map((a) => ({
      filename: a.filename,
      content: a.content,
      ...(a.contentType ? { contentType: a.contentType } : {}),
    })),
    messageId: message.messageId,
    date,
    // A queue message must never make the worker read its own files or fetch URLs.
    disableFileAccess: true,
    disableUrlAccess: true,
  });
  return composer.compile().build();
}
