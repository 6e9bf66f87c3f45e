/**
 * Every command of the CLI, in the order `mailrelay --help` lists them: names, help and options here,
 * implementations loaded on use (each imports only the AWS clients it needs).
 */
import type { Command } from '../command.js';

const enqueueCommand: Command = {
  name: 'enqueue',
  summary: 'validate queue messages (JSON files) and send the valid ones to the queue',
  help: `Usage: mailrelay enqueue FILE... [--dry-run] [--queue-url URL | --local] [--payload-bucket NAME] [--json]

Validates each file as the worker will (docs/design.md §1) and sends the valid ones to the queue with
SendMessageBatch, ten at a time. An invalid file is reported with each field path and reason and
is not sent. Prints the SQS message id of each message sent. A body above 256 KiB (up to 40 MiB)
is first written to the payload bucket and sent as an SQS Extended Client S3 pointer
(docs/payloads.md).

Options:
  --dry-run               validate only; send nothing
  --queue-url URL         the queue (default: $MAILRELAY_QUEUE_URL; with --local: the local queue)
  --payload-bucket NAME   the stack's payload bucket (default: output PayloadBucketName with
                          --stack, else $MAILRELAY_PAYLOAD_BUCKET; with --local: the local one)

Exit status: 0 when every file was sent (or is valid, with --dry-run), 1 otherwise.

Examples (docs/message.md explains each message):
  mailrelay --local enqueue local/sample-message.json
  mailrelay --local enqueue examples/messages/inline-image.json    # <img src="cid:…"> + "cid"
  mailrelay --local enqueue examples/messages/csv-report.json      # "text/csv; charset=utf-8"
  mailrelay --local enqueue examples/messages/calendar-invite.json # "text/calendar; method=REQUEST"
  mailrelay --local enqueue examples/messages/bounce-address.json  # "envelope": { "from" } (VERP)
  mailrelay --local enqueue examples/messages/unsubscribe.json     # "listUnsubscribe" (RFC 8058)
  mailrelay enqueue --dry-run examples/messages/*.json`,
  options: { 'dry-run': { type: 'boolean' }, 'payload-bucket': { type: 'string' } },
  positionals: true,
  load: async () => (await import('./enqueue.js')).run,
};

const configPutCommand: Command = {
  name: 'config put',
  summary: 'validate config items (one, or an array) from a JSON file and write them',
  help: `Usage: mailrelay config put FILE [--config-table NAME | --local] [--json]

Reads one config item or an array of items (docs/design.md §2) from FILE, validates every one of
them, and only then writes them all, each stamped with "updatedAt". When any item is invalid,
nothing is written and each problem is printed with its field path. An item replaces the item of
the same scope.

With --local, the placeholders of local/config.json ("\${LOCAL_RELAY_HOST}", "\${LOCAL_RELAY_PORT}")
are filled in with the local relay's address.

Options:
  --config-table NAME   the config table (default: $MAILRELAY_CONFIG_TABLE)

Example:
  mailrelay config put partner.json --config-table mailrelay-config`,
  options: {},
  positionals: true,
  load: async () => (await import('./configPut.js')).run,
};

const configGetCommand: Command = {
  name: 'config get',
  summary: 'print the item of one scope',
  help: `Usage: mailrelay config get SCOPE [--config-table NAME | --local] [--json]

Prints the stored item of SCOPE (global, binding-group#<name>, binding#<name>, domain#<domain>)
as JSON. Keysources print as stored (they are references); an inline { "value": ... } is masked.
Exit status 1 when the scope has no item.

Example:
  mailrelay config get 'domain#partner.example'`,
  options: {},
  positionals: true,
  load: async () => (await import('./configGet.js')).run,
};

const configListCommand: Command = {
  name: 'config list',
  summary: 'list every config item',
  help: `Usage: mailrelay config list [--config-table NAME | --local] [--json]

Lists the items of the config table: scope, relay, auth and limits each sets, and when it was
written. A stored item that no longer validates is listed as INVALID with its problems (the
worker refuses it, and only the messages that need it fail). --json prints the items as stored
(inline secret values masked).`,
  options: {},
  positionals: false,
  load: async () => (await import('./configList.js')).run,
};

const configDeleteCommand: Command = {
  name: 'config delete',
  summary: 'delete the item of one scope',
  help: `Usage: mailrelay config delete SCOPE [--config-table NAME | --local] [--json]

Deletes the item of SCOPE. The worker sees the change within its config cache TTL
(CONFIG_CACHE_TTL_SECONDS, 60 s by default; 0 with npm start). Exit status 1 when there was no item.

Example:
  mailrelay config delete 'binding#acme.example'`,
  options: {},
  positionals: true,
  load: async () => (await import('./configDelete.js')).run,
};

const configExplainCommand: Command = {
  name: 'config explain',
  summary: 'show the effective settings for a message and which scope each came from',
  help: `Usage: mailrelay config explain --from ADDR --to ADDR [--to ADDR...] [--binding NAME] [--auth-key KEY] [--auth-hook FILE] [--json]
       mailrelay config explain --message FILE [--auth-hook FILE] [--json]

Resolves config as the worker does (global < binding group < binding < domain < message) and
prints, for each group of recipients that share their settings (one SMTP transaction each),
every setting with its value and the scope it came from ("default" when no item sets it).
Secrets are shown as references (secret:mailrelay/x#field), never their values.

Options:
  --from ADDR       the sender; its domain is the default binding and EHLO name
  --to ADDR         a recipient (repeat for several)
  --binding NAME    the message's binding (default: the sender's domain)
  --message FILE    take sender, recipients, binding and auth override from a queue message
  --auth-key KEY    the message's auth.key (Momentum's lookup key), as handed to the auth hook
  --auth-hook FILE  run each route through this auth hook module (docs/auth-hook.md); a route
                    whose auth.hookFunction names a function invokes it. The fields the hook
                    sets show "hook" as their origin; it gets a sample message (no body)

Exit status 1 when some recipient cannot be routed (an invalid or incomplete config item) or
the auth hook failed.

Example:
  mailrelay --local config explain --from billing@acme.example --to bob@example.net --to alice@partner.example`,
  options: {
    from: { type: 'string' },
    to: { type: 'string', multiple: true },
    binding: { type: 'string' },
    message: { type: 'string' },
    'auth-key': { type: 'string' },
    'auth-hook': { type: 'string' },
  },
  positionals: false,
  load: async () => (await import('./configExplain.js')).run,
};

const checkCommand: Command = {
  name: 'check',
  summary: 'test a route: connect, STARTTLS, AUTH, QUIT (no mail is sent)',
  help: `Usage: mailrelay check (--to ADDR | --binding NAME) [--from ADDR] [--auth-key KEY] [--auth-hook FILE] [--ca FILE] [--json]

Resolves the route the worker would take for a message from --from to --to (or for a binding),
reads its credentials from Secrets Manager / SSM as the worker does, then connects to the relay,
negotiates TLS, authenticates with the configured mechanism and sends QUIT. No mail is sent.
Prints each SMTP step with its reply code (passwords and tokens are never shown) and a verdict:
OK, or FAILED with the relay's reply. Several recipients on different routes check each route.

Options:
  --to ADDR         a recipient (repeat for several); its domain picks domain#<domain> items
  --binding NAME    the binding (default: the domain of --from)
  --from ADDR       the sender (default EHLO name: its domain, else the binding, else the recipient's domain)
  --ca FILE         extra CA certificates (PEM) to trust, e.g. a private relay's (default: $RELAY_CA_FILE;
                    with --local, the stand-ins' test CA)
  --auth-key KEY    the message's auth.key, as handed to the auth hook
  --auth-hook FILE  take the credentials through this auth hook module, as the worker would
                    (a route naming auth.hookFunction invokes that function)

Exit status: 0 when every route checks OK, 1 otherwise.

Example:
  mailrelay --local check --from billing@acme.example --to alice@partner.example`,
  options: {
    to: { type: 'string', multiple: true },
    binding: { type: 'string' },
    from: { type: 'string' },
    ca: { type: 'string' },
    'auth-key': { type: 'string' },
    'auth-hook': { type: 'string' },
  },
  positionals: false,
  load: async () => (await import('./check.js')).run,
};

const dlqListCommand: Command = {
  name: 'dlq list',
  summary: 'list dead-lettered messages with their reason, SMTP reply, route and recipients',
  help: `Usage: mailrelay dlq list [--max N] [--dlq-url URL | --local] [--json]

Lists the messages in the dead-letter queue with the reason the worker attached: the failure
reason (invalid-message, auth-failed, smtp-permanent, ...), the SMTP code and reply, the route,
the recipients still undelivered, and how long ago it failed. Messages are received with a short
visibility timeout and made visible again at once: listing does not take them away from anyone.

Options:
  --max N          list at most N messages (default 100)
  --dlq-url URL    the dead-letter queue (default: $MAILRELAY_DLQ_URL)`,
  options: { max: { type: 'string' } },
  positionals: false,
  load: async () => (await import('./dlqList.js')).run,
};

const dlqRedriveCommand: Command = {
  name: 'dlq redrive',
  summary: 'send dead-lettered messages (all, or --id ones) back to the queue',
  help: `Usage: mailrelay dlq redrive [--id ID...] [--queue-url URL] [--dlq-url URL | --local] [--json]

Sends each selected DLQ message's original body back to the main queue, then deletes it from the
DLQ. Without --id, every message in the DLQ is redriven. Fix the cause first (a config item, a
secret): recipients the relay already accepted are never sent again (the idempotency table
remembers them), and the ones it refused get another chance.

Options:
  --id ID          a DLQ message id from \`dlq list\` (repeat for several)
  --queue-url URL  the main queue (default: $MAILRELAY_QUEUE_URL)
  --dlq-url URL    the dead-letter queue (default: $MAILRELAY_DLQ_URL)

Exit status 1 when an --id was not found or a message could not be moved.`,
  options: { id: { type: 'string', multiple: true } },
  positionals: false,
  load: async () => (await import('./dlqRedrive.js')).run,
};

const queueCommand: Command = {
  name: 'queue',
  summary: 'the queue at a glance, like mailq: waiting, in flight, delayed, oldest, DLQ entries',
  help: `Usage: mailrelay queue [--stack NAME | --queue-url URL --dlq-url URL | --local] [--json]

Prints the main queue's depth (messages waiting for the worker), the messages in flight (being
delivered, or waiting out a retry's visibility timeout), the delayed ones (retries scheduled with a
delay), the age of the oldest message, and the dead-letter queue's entries and the oldest of them.

The oldest message's age is SQS's CloudWatch metric ApproximateAgeOfOldestMessage (the last
10 minutes): reading the queue itself would count as a receive, and the worker dead-letters a
message on its last one. The stand-ins of npm start have no CloudWatch: "-" there.

Example:
  mailrelay queue --stack mailrelay`,
  options: {},
  positionals: false,
  load: async () => (await import('./queue.js')).run,
};

const traceCommand: Command = {
  name: 'trace',
  summary: "one message's history: its idempotency record, recipients and failure, and its DLQ entries",
  help: `Usage: mailrelay trace KEY [--binding NAME] [--stack NAME | --idempotency-table NAME --dlq-url URL | --local] [--json]

Looks a message up by its idempotency key (the message's "idempotencyKey", else the SQS message id
it was first received with). The idempotency record (id <binding>#<key>) tells its status
(in-progress, pending: waiting for a retry, delivered, dead-lettered), the recipients the relay
accepted, the ones that failed and the failure recorded last; the DLQ entries that carry the key
are listed after it (mailrelay dlq show ID prints one in full). Its log lines: the stack's saved
Logs Insights query <stack name>/message-history.

Options:
  --binding NAME   the message's binding (by default its sender's domain); without it, the
                   records of KEY under every binding are found (a scan of the table)

Exit status 1 when there is neither a record nor a DLQ entry.

Example:
  mailrelay trace invoice-2024-0042 --binding acme.example --stack mailrelay`,
  options: { binding: { type: 'string' } },
  positionals: true,
  load: async () => (await import('./trace.js')).run,
};

const dlqShowCommand: Command = {
  name: 'dlq show',
  summary: 'print one dead-lettered message in full: reason, SMTP reply, recipients and body',
  help: `Usage: mailrelay dlq show ID [--dlq-url URL | --stack NAME | --local] [--json]

Prints the DLQ entry ID (from mailrelay dlq list): every attribute the worker attached (reason,
detail, SMTP code and reply, route, recipients still undelivered, idempotency key, receives) and
the message body (an inline { "value": ... } keysource masked). It stays in the DLQ.

Exit status 1 when ID is not in the DLQ.`,
  options: {},
  positionals: true,
  load: async () => (await import('./dlqShow.js')).run,
};

const dlqPurgeCommand: Command = {
  name: 'dlq purge',
  summary: 'delete dead-lettered messages (ids, or --all) for good; needs --yes',
  help: `Usage: mailrelay dlq purge (ID... | --all) --yes [--dlq-url URL | --stack NAME | --local] [--json]

Deletes the given DLQ entries (or every entry, with --all). They cannot be redriven afterwards.
Without --yes nothing is deleted: the entries that would be are listed, and the exit status is 2.

Options:
  --all    every entry in the DLQ
  --yes    really delete

Exit status 1 when an ID was not found or could not be deleted.`,
  options: { all: { type: 'boolean' }, yes: { type: 'boolean' } },
  positionals: true,
  load: async () => (await import('./dlqPurge.js')).run,
};

const dkimDnsCommand: Command = {
  name: 'dkim dns',
  summary: "print the DNS TXT record that publishes a binding's DKIM key",
  help: `Usage: mailrelay dkim dns --binding NAME [--config-table NAME | --local] [--json]

Resolves the DKIM signer of the binding as the worker does (the "dkim" block of the highest of
global, binding group and binding that sets one; docs/design.md §2), reads its private key from
Secrets Manager / SSM, derives the public key and prints the TXT record receivers will look the
signature up by: <selector>._domainkey.<domain>, "v=DKIM1; k=rsa; p=...". Only the public key is
printed. Exit status 1 when the binding has no signer or its key cannot be read or parsed.

Options:
  --binding NAME    the binding (by default a message's binding is its sender's domain)

Example:
  mailrelay --local dkim dns --binding acme.example`,
  options: { binding: { type: 'string' } },
  positionals: false,
  load: async () => (await import('./dkimDns.js')).run,
};

const workerCommand: Command = {
  name: 'worker',
  summary: 'run the worker (the Lambda handler) against an SQS queue until stopped',
  help: `Usage: mailrelay worker --queue-url URL [--batch-size N] [--wait-time SECONDS] [--timeout SECONDS] [--auth-hook FILE] [--pretty]

Runs the real Lambda handler against an SQS queue: receives up to 10 messages with long polling,
hands them over as an SQS event, deletes the ones that succeeded and leaves the failed ones to
their visibility timeout and the queue's redrive policy. On SIGINT / SIGTERM it stops after the
poll in flight and the batch in hand (a second signal quits at once).

The handler reads its settings from the environment, as in Lambda:
  CONFIG_TABLE_NAME, IDEMPOTENCY_TABLE_NAME, DEAD_LETTER_QUEUE_URL (required),
  SECRET_PREFIX (mailrelay/), MAX_RECEIVE_COUNT (5; must equal the queue's redrive policy),
  CONFIG_CACHE_TTL_SECONDS (60), SECRET_CACHE_TTL_SECONDS (300), MIN_REMAINING_TIME_MS (10000),
  BATCH_CONCURRENCY (10), RELAY_CA_FILE, AUTH_HOOK_TIMEOUT_MS (2000),
  AUTH_HOOK_CACHE_TTL_SECONDS (60), AUTH_HOOK_CACHE_SIZE (1000), EVENT_BUS_NAME (delivery
  events; none when unset); AWS credentials and region from the default chain.

Options:
  --queue-url URL      the queue (default: $MAILRELAY_QUEUE_URL, else $QUEUE_URL)
  --batch-size N       messages per receive, 1-10 (default 10)
  --wait-time SECONDS  long-poll wait of each receive, 0-20 (default 10)
  --timeout SECONDS    the time budget of each batch, like a Lambda timeout (default 60)
  --auth-hook FILE     an auth hook module (an ES module exporting outboundSmtpAuthConfig;
                       see docs/auth-hook.md), as the stack bundles authHook.entry
  --pretty             one short line per log record instead of JSON`,
  options: {
    'batch-size': { type: 'string' },
    'wait-time': { type: 'string' },
    timeout: { type: 'string' },
    'auth-hook': { type: 'string' },
    pretty: { type: 'boolean' },
  },
  positionals: false,
  load: async () => (await import('./worker.js')).run,
};

const routesCommand: Command = {
  name: 'routes',
  summary: 'each relay with its limits, connection leases and rate in use across the fleet, throttling and suspension',
  help: `Usage: mailrelay routes [--relay-state-table NAME] [--config-table NAME | --local] [--json]

Lists every relay the config items name, with the limits each scope sets (maxConnections,
messagesPerSecond, perUser), and what the whole fleet is doing with it now, read from the
relay-state table (docs/limits.md):
  LEASES       open SMTP sessions across every sandbox / maxConnections
  RATE         how much of messagesPerSecond is in use (the one-second burst spent)
  THROTTLE     throttle steps after 421 / 4.7.0 / "too many connections": rate halved and one
               connection fewer per step, one step back per quiet THROTTLE_RECOVERY_SECONDS
  SUSPENSION   suspended for the fleet after refusing sessions, with the reason; or probing

With perUser limits, each relay and user (host:port#user) has its own row.

Options:
  --relay-state-table NAME   the relay-state table (default: $MAILRELAY_RELAY_STATE_TABLE;
                             with --local: the local one)
  --config-table NAME        the config table (default: $MAILRELAY_CONFIG_TABLE)

Example:
  mailrelay --local routes`,
  options: { 'relay-state-table': { type: 'string' } },
  positionals: false,
  load: async () => (await import('./routes.js')).run,
};

const gatewayCommand: Command = {
  name: 'gateway',
  summary: 'run the SMTP submission gateway (AUTH after STARTTLS) in front of the queue',
  help: `Usage: mailrelay gateway [--port N] [--tls-port N] [--host ADDR] [--health-port N]
                         [--tls-cert KEYSOURCE --tls-key KEYSOURCE] [--name HOST]
                         [--queue-url URL] [--config-table NAME] [--payload-bucket NAME | --local]

Accepts mail over SMTP from applications that cannot put JSON on SQS, and turns each message into
a queue message (raw + envelope + the submitter's binding + submission identities): see
docs/gateway.md and docs/design.md §3.1.
  - STARTTLS on --port; AUTH is neither offered nor accepted before TLS (530 5.7.0).
  - AUTH PLAIN (LOGIN only for submitters with "allowLogin") against submitter#<name> config items:
    { "scope": "submitter#app1", "password": KEYSOURCE, "binding": "acme", "authz": [],
      "fromDomains": ["acme.example"], "allowLogin": false }   (write them with config put)
  - 250 only once SQS has the message, 451 on any AWS failure; SIZE announced and enforced.
  - With a payload bucket, a message over 256 KiB goes to S3 first and the queue gets an SQS
    Extended Client pointer (docs/payloads.md); SIZE is then 40 MiB less 64 KiB, else 983,040.
Logs one JSON line per event on stdout (auth-failed, message-queued, ...). Runs until Ctrl-C.

Options (each also from an environment variable):
  --port N            submission port, STARTTLS (MAILRELAY_GATEWAY_PORT; default 587)
  --tls-port N        also listen with implicit TLS, 465 style (MAILRELAY_GATEWAY_TLS_PORT)
  --host ADDR         address to bind (MAILRELAY_GATEWAY_HOST; default 127.0.0.1; 0.0.0.0 in a container)
  --health-port N     HTTP GET /health for load balancers (MAILRELAY_GATEWAY_HEALTH_PORT)
  --tls-cert KS       the certificate chain (PEM) as a keysource: secret:NAME[#FIELD],
                      parameter:NAME, env:NAME or JSON (MAILRELAY_GATEWAY_TLS_CERT)
  --tls-key KS        its private key, likewise (MAILRELAY_GATEWAY_TLS_KEY)
                      (with --local both default to the test certificate of local/certs)
  --name HOST         the name in the greeting and in Received: (MAILRELAY_GATEWAY_NAME; default the host name)
  --payload-bucket B  the stack's payload bucket (MAILRELAY_PAYLOAD_BUCKET, output PayloadBucketName
                      with --stack, the local one with --local); none: no offload, SIZE 983,040

Example:
  mailrelay gateway --port 587 --tls-port 465 --host 0.0.0.0 \\
    --tls-cert secret:mailrelay/gateway-tls#cert --tls-key secret:mailrelay/gateway-tls#key`,
  options: {
    port: { type: 'string' },
    'tls-port': { type: 'string' },
    host: { type: 'string' },
    'health-port': { type: 'string' },
    'tls-cert': { type: 'string' },
    'tls-key': { type: 'string' },
    name: { type: 'string' },
    'payload-bucket': { type: 'string' },
  },
  positionals: false,
  load: async () => (await import('./gateway.js')).run,
};

export const COMMANDS: readonly Command[] = [
  enqueueCommand,
  configPutCommand,
  configGetCommand,
  configListCommand,
  configDeleteCommand,
  configExplainCommand,
  checkCommand,
  queueCommand,
  traceCommand,
  dlqListCommand,
  dlqShowCommand,
  dlqRedriveCommand,
  dlqPurgeCommand,
  routesCommand,
  dkimDnsCommand,
  workerCommand,
  gatewayCommand,
];
