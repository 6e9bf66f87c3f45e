/** The queue message (docs/design.md §1): parsing and validation. */
export { parseQueueMessage, type ParseQueueMessageOptions } from './parseQueueMessage.js';
export { dedupeAddresses, mailboxListSchema, mailboxSchema, parseMailbox, parseMailboxList, type AddressListResult, type AddressResult } from './addresses.js';
export { attachmentsSchema, lastPathSegment } from './attachments.js';
export { decodeStrictBase64, type Base64Result } from './base64.js';
export * from './constants.js';
export { toALabel, type DomainResult } from './domains.js';
export { headersSchema, isWorkerOwnedHeader, type CustomHeaders } from './headers.js';
export { readJsonBody, type JsonBodyResult } from './jsonBody.js';
export { deriveMessageId, isMessageId, MESSAGE_ID_REQUIREMENT } from './messageId.js';
export { assembleRawMessage, parseRawMessage, type ParsedRawMessage, type RawEnvelopeInput, type RawResult } from './raw.js';
export { normaliseLineEndings, splitRawMessage, type RawHeaderField, type RawMessageParts, type RawPartsResult } from './rawHeaders.js';
export {
  bindingSchema,
  envelopeSchema,
  idempotencyKeySchema,
  messageFieldSchemas,
  parseMessageFields,
  rawSchema,
  recipientListSchema,
  tagsSchema,
  type MessageFieldName,
  type MessageFields,
} from './schema.js';
export { stringMapSchema, type EntryCheck, type StringMapOptions } from './stringMap.js';
export { codePointLength, headerSafeProblems, headerSafeString, jsonTreeIssues, logSafePath, nonPrintableCharacter, nulFreeString, stringField } from './text.js';
export type * from './types.js';
