/**
 * A stack prop (or the context value it came from) is invalid. Thrown before
 * any resource is built, so a misconfiguration fails `cdk synth` with one
 * clear sentence instead of a CloudFormation error at deploy time.
 */
export class MailrelayPropsError extends Error {
  /** The offending prop, e.g. `batchSize`. */
  public readonly prop: string;

  public constructor(prop: string, message: string, options?: ErrorOptions) {
    super(`mailrelay: invalid ${prop}: ${message}`, options);
    this.name = 'MailrelayPropsError';
    this.prop = prop;
  }
}
