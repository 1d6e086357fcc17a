import type { Config } from '../config.ts';
import type { Engine } from '../core/engine.ts';

/**
 * What every route plugin is registered with. The routes name their body types as generics (`app.post<{ Body }>`):
 * the type provider reads schemas with typebox 1.x, to which this project's 0.34 `Type.Ref` and `Type.Unsafe` are unknown.
 */
export interface RouteDeps {
  engine: Engine;
  config: Config;
}
