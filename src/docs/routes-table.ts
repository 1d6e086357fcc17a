// docs/api.md's route table, rendered from the served OpenAPI spec (app.swagger(), the same TypeBox schemas that
// validate requests and that openapi.yaml is written from).

type Schema = {
  $ref?: string;
  anyOf?: Schema[];
  oneOf?: Schema[];
  properties?: Record<string, unknown>;
  required?: string[];
  type?: string;
};
type Operation = {
  summary?: string;
  requestBody?: { content?: Record<string, { schema?: Schema }> };
  responses?: Record<string, unknown>;
};
type Spec = { paths: Record<string, Record<string, Operation>>; components?: { schemas?: Record<string, Schema> } };

function describe(schema: Schema | undefined): string {
  if (!schema) return '';
  // An object's anyOf / oneOf beside its properties constrains them (exactly one of two fields): it is one shape.
  if (schema.properties) {
    const required = new Set(schema.required ?? []);
    return `{${Object.keys(schema.properties)
      .map((k) => (required.has(k) ? k : `${k}?`))
      .join(', ')}}`;
  }
  const alts = schema.anyOf ?? schema.oneOf;
  if (alts) return alts.map(describe).join(' or ');
  if (schema.$ref) return `\`${schema.$ref.split('/').pop()}\``;
  return schema.type ?? '';
}

const cell = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');

/** One row per route and method: summary, request body, the statuses it may answer. */
export function routesTable(spec: Spec): string {
  const rows = ['| Route | What it does | Request body | Statuses |', '|---|---|---|---|'];
  for (const [path, ops] of Object.entries(spec.paths)) {
    for (const [method, op] of Object.entries(ops)) {
      // The 405 operations (a method the path does not take): said once under the table, not a row each.
      if ((op as Record<string, unknown>)['x-method-not-allowed']) continue;
      const body = op.requestBody?.content?.['application/json']?.schema;
      rows.push(
        `| \`${method.toUpperCase()} ${path}\` | ${cell(op.summary ?? '')} | ${cell(describe(body)) || '-'} | ${Object.keys(op.responses ?? {}).join(', ')} |`,
      );
    }
  }
  return rows.join('\n');
}

/** The error `type` values the spec's ErrorResponse lists, one bullet each. */
export function errorTypes(spec: Spec): string {
  const err = spec.components?.schemas?.ErrorResponse as
    { properties?: { error?: { properties?: { type?: { description?: string } } } } } | undefined;
  const types = err?.properties?.error?.properties?.type?.description?.split('|').map((s) => s.trim()) ?? [];
  if (!types.length) throw new Error('the spec has no ErrorResponse with a type list');
  return `Error types (\`ErrorResponse.error.type\`): ${types.map((t) => `\`${t}\``).join(', ')}.`;
}
