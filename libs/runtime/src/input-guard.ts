import { ValidationError } from '@custos/errors';
import { isStorableText } from '@custos/event-store';

/** Deepest JSON nesting any Custos route accepts. */
export const MAX_JSON_DEPTH = 32;

/**
 * Refuses, before any transformation or validation library sees it, input that would cost
 * CPU out of proportion (JSON nested deeper than 32) or that PostgreSQL cannot store (a lone
 * surrogate, NUL) and would otherwise fail a whole group commit: a 400 for this request
 * alone. A `__proto__` or `constructor` key at any depth is refused too (`forbidden-key`):
 * the prototype-pollution vectors, which class-transformer would otherwise copy onto a DTO
 * (`constructor` even passed the whitelist). An iterative walk: no recursion for an attacker to exhaust.
 */
export function checkInput(value: unknown, where: string): void {
  const stack: Array<{ v: unknown; depth: number }> = [{ v: value, depth: 0 }];
  while (stack.length > 0) {
    const { v, depth } = stack.pop() as { v: unknown; depth: number };
    if (typeof v === 'string') {
      if (!isStorableText(v)) throw new ValidationError(`the ${where} holds text that is not well-formed Unicode (a lone surrogate or NUL)`, undefined, 'ill-formed-text');
      continue;
    }
    if (v === null || typeof v !== 'object') continue;
    if (depth >= MAX_JSON_DEPTH) throw new ValidationError(`the ${where} is nested deeper than ${MAX_JSON_DEPTH} levels`, undefined, 'too-deeply-nested');
    if (Array.isArray(v)) {
      for (const item of v) stack.push({ v: item, depth: depth + 1 });
    } else {
      for (const [k, item] of Object.entries(v as Record<string, unknown>)) {
        if (!isStorableText(k)) throw new ValidationError(`the ${where} has a key that is not well-formed Unicode`, undefined, 'ill-formed-text');
        if (k === '__proto__' || k === 'constructor') {
          throw new ValidationError(`the ${where} has a key "${k}", refused: it could rewrite object prototypes, and no Custos field is called so`, { key: k }, 'forbidden-key');
        }
        stack.push({ v: item, depth: depth + 1 });
      }
    }
  }
}
