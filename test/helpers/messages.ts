/** Builds validated QueueMessage objects directly, for core tests that are not about parsing. */
import type { MessageAuthOverride } from '../../lambda/core/config/schema.js';
import type { MailAddress, QueueMessage } from '../../lambda/core/message/types.js';

export const mailAddress = (address: string, name = ''): MailAddress => ({ name, address, domain: address.split('@')[1]!.toLowerCase() });

export function structuredMessage(options: {
  from?: string;
  to: string[];
  subject?: string;
  text?: string;
  binding?: string;
  auth?: MessageAuthOverride;
  idempotencyKey?: string;
}): QueueMessage {
  const from = mailAddress(options.from ?? 'billing@acme.example', 'Acme Billing');
  const to = options.to.map((a) => mailAddress(a));
  return {
    idempotencyKey: options.idempotencyKey ?? 'test-key',
    binding: options.binding ?? from.domain,
    bindingSource: options.binding ? 'message' : 'sender-domain',
    sender: from,
    envelope: { from: from.address, to },
    content: { kind: 'structured', from, to, cc: [], bcc: [], subject: options.subject ?? 'Hello', text: options.text ?? 'plain body', headers: {}, attachments: [] },
    messageId: `<${options.idempotencyKey ?? 'test-key'}@${from.domain}>`,
    auth: options.auth,
    tags: {},
  };
}
