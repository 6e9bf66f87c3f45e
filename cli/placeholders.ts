/**
 * Placeholders of `local/config.json`: `npm start` (and `mailrelay --local config put`) replace a
 * string value that is exactly `"${LOCAL_RELAY_HOST}"` with the local relay's host and
 * `"${LOCAL_RELAY_PORT}"` with its port, so the file needs no edit when the port changes.
 */
export const RELAY_HOST_PLACEHOLDER = '${LOCAL_RELAY_HOST}';
export const RELAY_PORT_PLACEHOLDER = '${LOCAL_RELAY_PORT}';

/** Replaces string values that are exactly a placeholder (a number stays a number). */
export function fillPlaceholders(value: unknown, values: Readonly<Record<string, string | number>>): unknown {
  if (typeof value === 'string') return Object.hasOwn(values, value) ? values[value] : value;
  if (Array.isArray(value)) return value.map((v) => fillPlaceholders(v, values));
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, fillPlaceholders(v, values)]));
  }
  return value;
}

/** The placeholder values for a relay. */
export function relayPlaceholders(relay: { readonly host: string; readonly port: number }): Record<string, string | number> {
  return { [RELAY_HOST_PLACEHOLDER]: relay.host, [RELAY_PORT_PLACEHOLDER]: relay.port };
}
