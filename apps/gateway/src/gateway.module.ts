import type { Provider } from '@nestjs/common';
import type { CustosConfig } from '@custos/platform';
import { EmbeddedProjections, ProcessSpec } from '@custos/runtime';

/**
 * The HTTP edge. In embedded mode it also hosts the projections, fed in process from the
 * store; in distributed mode the relay and projector run as their own processes.
 */
export function gatewaySpec(config: CustosConfig): ProcessSpec {
  const providers: Provider[] = config.mode === 'embedded' ? [EmbeddedProjections] : [];
  return { name: 'gateway', providers };
}
