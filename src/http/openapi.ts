import YAML from 'yaml';

/** openapi.yaml is this rendering of the served spec (app.swagger()). */
export function openapiYaml(spec: unknown): string {
  return YAML.stringify(spec, { lineWidth: 0 });
}
