import { QueryDefinition, QueryString, type ILogGroup } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';

/** Props of {@link RelayQueries}. */
export interface RelayQueriesProps {
  /** The worker's log group (its records are Powertools JSON: Logs Insights discovers the fields). */
  readonly logGroup: ILogGroup;
  /** Prefix of the query names, a folder in the Logs Insights console (the stack name). */
  readonly prefix: string;
}

/** One saved query: its name under the prefix and its Logs Insights text. */
export interface RelayQuery {
  readonly name: string;
  readonly query: QueryString;
}

/** The placeholder a user replaces in the message-history query (Logs Insights has no parameters). */
export const IDEMPOTENCY_KEY_PLACEHOLDER = 'REPLACE-WITH-IDEMPOTENCY-KEY';

/**
 * The worker's log lines an operator asks for (names of the fields: lambda/worker/report.ts and
 * processRecord.ts): one message's history by its idempotency key (what `mailrelay trace` points
 * to), dead-lettered messages by reason, deferred recipients by reason and route, relay
 * suspensions and recoveries.
 */
export const RELAY_QUERIES: readonly RelayQuery[] = [
  {
    name: 'message-history',
    query: new QueryString({
      fields: ['@timestamp', 'level', 'message', 'recipient', 'disposition', 'reason', 'smtpCode', 'route', 'detail', 'sqsMessageId', 'function_request_id'],
      filterStatements: [`idempotencyKey = "${IDEMPOTENCY_KEY_PLACEHOLDER}"`],
      sort: '@timestamp asc',
      limit: 1000,
    }),
  },
  {
    name: 'dead-lettered-by-reason',
    query: new QueryString({
      filterStatements: ['message = "dead-lettered"'],
      statsStatements: ['count(*) as messages, latest(detail) as lastDetail by reason'],
      sort: 'messages desc',
    }),
  },
  {
    name: 'deferred-by-reason',
    query: new QueryString({
      filterStatements: ['message = "deferred"'],
      statsStatements: ['count(*) as recipients, latest(smtpCode) as lastSmtpCode by reason, route'],
      sort: 'recipients desc',
    }),
  },
  {
    name: 'relay-suspensions',
    query: new QueryString({
      fields: ['@timestamp', 'message', 'relay', 'reason', 'detail', 'suspendedUntil', 'suspensionSeconds', 'nextRelay'],
      filterStatements: ['message like /^relay (suspended|recovered|refused)/'],
      sort: '@timestamp desc',
      limit: 1000,
    }),
  },
];

/** The saved Logs Insights queries of the worker's log group (AWS::Logs::QueryDefinition). */
export class RelayQueries extends Construct {
  public readonly definitions: readonly QueryDefinition[];

  public constructor(scope: Construct, id: string, props: RelayQueriesProps) {
    super(scope, id);
    this.definitions = RELAY_QUERIES.map(
      ({ name, query }) =>
        new QueryDefinition(this, name, {
          queryDefinitionName: `${props.prefix}/${name}`,
          queryString: query,
          logGroups: [props.logGroup],
        }),
    );
  }
}
