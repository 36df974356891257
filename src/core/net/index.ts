export { isPublicAddress } from './address-policy.js';
export {
  BLOCKED_ADDRESS_CODE,
  BlockedAddressError,
  createGuardedAgent,
  type GuardedAgentOptions,
  type ResolvedAddress,
  type Resolver,
} from './guarded-agent.js';
export { isTrustedUrl, originOf, trustedOrigins } from './trusted-origins.js';
