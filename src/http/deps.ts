import type { Config } from '../config.ts';
import type { Engine } from '../core/engine.ts';

/**
 * What every route plugin is registered with. The routes get their body and reply types from the type provider, which
 * infers them from the route schemas: @fastify/type-provider-typebox 5.x reads them with this project's
 * @sinclair/typebox 0.34, where `Type.Ref(schema)` and `Type.Unsafe<T>` carry their static type (6.x reads typebox 1.x,
 * to which both are unknown).
 */
export interface RouteDeps {
  engine: Engine;
  config: Config;
}
