export {
  createOAuth2TokenProvider,
  oauth2Flow,
  tokenForm,
  type OAuth2Credentials,
  type OAuth2Flow,
  type OAuth2TokenProviderOptions,
} from './createOAuth2TokenProvider.js';
export { requestToken, parseExpiresIn, type TokenGrant, type TokenRequest, type TokenResult } from './requestToken.js';
export { displayUrl, tokenEndpointUrl } from './tokenEndpointUrl.js';
export { isLoopbackHost, tokenUrlProblem } from './tokenUrlPolicy.js';
export * from './constants.js';
