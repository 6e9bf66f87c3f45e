/**
 * zod/mini loads no locale: without one, an issue whose schema gives no message of its own (an
 * optional `updatedAt: 5`, a `relay` block that is a string) reads only "Invalid input". This
 * loads the English locale that classic zod loads by default, so those messages stay "Invalid
 * input: expected string, received number" (test/unit/config/defaultMessages.test.ts). It adds
 * under 3 KB to the bundle. Every schema module imports it through ../validation.ts, and it must
 * run before the first parse, not before the schemas are built: messages are worded when a parse
 * finishes.
 */
import { config } from 'zod/mini';
import en from 'zod/v4/locales/en.js';

// Only as a default, as classic zod does: a locale the embedding program chose stays.
if (config().localeError === undefined) config(en());
