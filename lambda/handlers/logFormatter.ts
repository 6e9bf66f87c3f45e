/**
 * The worker's JSON log line: Powertools' standard keys without the ones that repeat the same
 * value on every line of the function's log group. The log group is the function, so
 * `function_name` and `function_arn` say nothing a line's group does not; `function_memory_size`
 * is on Lambda's REPORT line; `sampling_rate` is the function's setting; `cold_start` is printed
 * only when true (the first invocation of a sandbox). Kept: level, message, timestamp, service,
 * `function_request_id` (joins a line to its invocation and REPORT line), the X-Ray trace and
 * tenant ids when present, then the line's own fields. About 170 bytes less per line, and
 * CloudWatch Logs bills every ingested byte (docs/performance.md).
 */
import { LogFormatter, LogItem } from '@aws-lambda-powertools/logger';
import type { LogAttributes, UnformattedAttributes } from '@aws-lambda-powertools/logger/types';

export class RelayLogFormatter extends LogFormatter {
  public formatAttributes(attributes: UnformattedAttributes, additionalLogAttributes: LogAttributes): LogItem {
    const context = attributes.lambdaContext;
    return new LogItem({
      attributes: {
        level: attributes.logLevel,
        message: attributes.message,
        timestamp: this.formatTimestamp(attributes.timestamp),
        service: attributes.serviceName,
        cold_start: context?.coldStart ? true : undefined,
        function_request_id: context?.awsRequestId,
        xray_trace_id: attributes.xRayTraceId,
        tenant_id: context?.tenantId,
      },
    }).addAttributes(additionalLogAttributes);
  }
}
