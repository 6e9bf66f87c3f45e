/**
 * zod/mini loads no locale: without one, an issue whose schema gives no message of its own (an
 * optional `updatedAt: 5`, a `relay` block that is a string) reads only "Invalid input". This
 * loads the English locale that classic zod loads by default, so those messages stay "Invalid
 * input: expected string, received number". About 4 KB of the bundle; every schema module
 * imports it through ./validation.ts.
 */
import { config } from 'zod/mini';
import en from 'zod/v4/locales/en.js';

// Only as a default, as classic zod does: a locale the embedding program chose stays.
if (config().localeError === undefined) config(en());
