// Worker entry point when running the TypeScript sources (development, tests): registers tsx so the worker loads,
// whether the parent runs under tsx, tap or plain node. The compiled dist/ starts dist/backend/onnx-worker.js instead.
import { register } from 'tsx/esm/api';

register();
await import('./onnx-worker.ts');
