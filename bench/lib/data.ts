import { readFileSync } from 'node:fs';

/** The shared MS MARCO-ko sample: `{query, pos}` rows (see data/msmarco-ko/README.md). */
export function loadMsmarcoKo(): { query: string; pos: string[] }[] {
  return readFileSync('data/msmarco-ko/msmarco-ko.jsonl', 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { query: string; pos: string[] });
}
