/**
 * Builds the exact bytes sent in DATA. Structured messages go through nodemailer's own message
 * pipeline (a stream transport that only builds the message: MailComposer plus the `list`
 * headers), which encodes headers and bodies, so no body text can end DATA early; raw messages
 * were already normalised to CRLF by the parser. Composing once per message keeps the
 * Message-ID and the bytes identical on every route the message takes.
 *
 * Every MIME feature is nodemailer's, never hand-built: `cid` and `contentDisposition` for
 * inline parts (a part with a cid goes into multipart/related with the HTML), `icalEvent` for
 * the calendar invite (an alternative body part and an attachment), `list` for List-Unsubscribe.
 */
import Mail from 'nodemailer/lib/mailer';
import StreamTransport from 'nodemailer/lib/stream-transport';
import type { MailAddress, MessageAttachment, QueueMessage, StructuredContent } from '../message/types.js';

const toNodemailer = (a: MailAddress): { name: string; address: string } => ({ name: a.name, address: a.address });

/**
 * A transport that sends nowhere: it returns the message it built. A queue message must never
 * make the worker read its own files or fetch URLs, whatever its fields say.
 */
// What nodemailer.createTransport({ streamTransport: true, ... }) builds, without importing
// nodemailer's index and with it every other transport (issue 17: a lighter bundle).
const BUILDER_OPTIONS = { streamTransport: true, buffer: true, newline: 'windows', disableFileAccess: true, disableUrlAccess: true } as const;
const builder = new Mail(new StreamTransport(BUILDER_OPTIONS), BUILDER_OPTIONS);

/** RFC 8058 §3.1: the one value of List-Unsubscribe-Post. */
export const ONE_CLICK = 'List-Unsubscribe=One-Click';

/** @returns the RFC 5322 message, CRLF line endings, without a Bcc header. */
export async function composeMessage(message: QueueMessage, date: Date = new Date()): Promise<Buffer> {
  if (message.content.kind === 'raw') return message.content.raw;
  const info = await builder.sendMail(mailOptions(message.content, message.messageId, date));
  return info.message as Buffer;
}

/** The nodemailer message of a structured content. */
export function mailOptions(content: StructuredContent, messageId: string, date: Date): Mail.Options {
  const invite = content.attachments.find((a) => a.calendarMethod !== undefined);
  const { listUnsubscribe } = content;
  return {
    from: toNodemailer(content.from),
    to: content.to.map(toNodemailer),
    cc: content.cc.map(toNodemailer),
    // Bcc recipients are in the envelope only: never in the header block.
    ...(content.replyTo ? { replyTo: toNodemailer(content.replyTo) } : {}),
    ...(content.subject !== undefined ? { subject: content.subject } : {}),
    ...(content.text !== undefined ? { text: content.text } : {}),
    ...(content.html !== undefined ? { html: content.html } : {}),
    headers: { ...content.headers, ...(listUnsubscribe ? { 'List-Unsubscribe-Post': ONE_CLICK } : {}) },
    attachments: content.attachments.filter((a) => a !== invite).map(attachment),
    // One List-Unsubscribe line: the https URL first (RFC 8058 one-click), then the mailto.
    ...(listUnsubscribe ? { list: { unsubscribe: [[listUnsubscribe.url, ...(listUnsubscribe.mailto ? [listUnsubscribe.mailto] : [])]] } } : {}),
    ...(invite ? { icalEvent: { filename: invite.filename, method: invite.calendarMethod, content: invite.content } } : {}),
    messageId,
    date,
  };
}

function attachment(a: MessageAttachment): Mail.Attachment {
  return {
    filename: a.filename,
    content: a.content,
    ...(a.contentType ? { contentType: a.contentType } : {}),
    ...(a.cid !== undefined ? { cid: a.cid } : {}),
    contentDisposition: a.disposition,
  };
}
