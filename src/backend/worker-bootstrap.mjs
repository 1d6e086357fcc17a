// Worker entry point: registers tsx so the TypeScript worker loads without a build step,
// whether the parent runs under tsx, tap or plain node.
import { register } from 'tsx/esm/api';

register();
await import('./onnx-worker.ts');
