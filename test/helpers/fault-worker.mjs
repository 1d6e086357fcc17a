// Test-only worker entry: registers tsx, then runs the production inference worker with a fault handler in front.
import { register } from 'tsx/esm/api';

register();
await import('./fault-worker.ts');
