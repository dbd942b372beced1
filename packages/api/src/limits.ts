import {
  type DocumentNode,
  type FieldNode,
  type FragmentDefinitionNode,
  type GraphQLError,
  Kind,
  type OperationDefinitionNode,
  type SelectionSetNode,
  type ValueNode,
  visit,
} from 'graphql'
import { createGraphQLError } from './errors.js'

export interface QueryLimits {
  /** Deepest field nesting allowed (introspection subtrees have their own, fixed cap). */
  maxDepth: number
  /** Cost cap: each field costs 1, times the page size (`first`) of the connections above it. */
  maxComplexity: number
  /** Aliased fields per document (aliases are how one request multiplies a costly field). */
  maxAliases: number
  /** Page size assumed for a connection whose `first` is absent. */
  defaultPage: number
  /** Page size assumed for a `first` given as a variable (not known at validation time). */
  maxPage: number
}

/** GraphiQL's introspection query nests `ofType` about 9 deep below depth 4; keep it working, nothing deeper. */
const INTROSPECTION_DEPTH = 16
const INTROSPECTION_ROOTS = new Set(['__schema', '__type'])
/** Fields whose children repeat once per page item. */
const PAGED = new Set(['blocks', 'transactions'])

interface Cost {
  depth: number
  cost: number
}

/**
 * Check depth, complexity and alias limits on a parsed document before graphql-js validates it (some
 * standard rules are quadratic, so hostile documents must be refused first). Fragments are costed once
 * each (memoised), so fragment fan-out cannot blow up the check itself; fragment cycles stop the walk
 * (graphql's NoFragmentCycles rule reports them).
 */
export function checkQueryLimits(doc: DocumentNode, limits: QueryLimits): GraphQLError[] {
  const fragments = new Map<string, FragmentDefinitionNode>()
  let aliases = 0
  for (const def of doc.definitions) {
    if (def.kind === Kind.FRAGMENT_DEFINITION) fragments.set(def.name.value, def)
  }
  const memo = new Map<string, Cost>()
  const visiting = new Set<string>()

  const pageOf = (field: FieldNode): number => {
    if (!PAGED.has(field.name.value)) return 1
    const arg = field.arguments?.find((a) => a.name.value === 'first')
    if (!arg) return limits.defaultPage
    return pageValue(arg.value, limits)
  }

  const selection = (set: SelectionSetNode | undefined, introspection: boolean): Cost => {
    if (!set) return { depth: 0, cost: 0 }
    let depth = 0
    let cost = 0
    for (const sel of set.selections) {
      let c: Cost
      if (sel.kind === Kind.FIELD) {
        const intro = introspection || INTROSPECTION_ROOTS.has(sel.name.value)
        const child = selection(sel.selectionSet, intro)
        // Depth below an introspection root is checked on its own there and not counted here.
        const d = intro && !introspection ? 1 : 1 + child.depth
        if (intro && !introspection && child.depth + 1 > INTROSPECTION_DEPTH) {
          return { depth: Number.POSITIVE_INFINITY, cost: Number.POSITIVE_INFINITY }
        }
        c = { depth: d, cost: 1 + (intro ? 1 : pageOf(sel)) * child.cost }
      } else if (sel.kind === Kind.INLINE_FRAGMENT) {
        c = selection(sel.selectionSet, introspection)
      } else {
        c = fragment(sel.name.value, introspection)
      }
      depth = Math.max(depth, c.depth)
      cost += c.cost
    }
    return { depth, cost }
  }

  const fragment = (name: string, introspection: boolean): Cost => {
    const key = `${introspection ? 'i' : 'q'}:${name}`
    const hit = memo.get(key)
    if (hit) return hit
    const def = fragments.get(name)
    if (!def || visiting.has(key)) return { depth: 0, cost: 0 }
    visiting.add(key)
    const c = selection(def.selectionSet, introspection)
    visiting.delete(key)
    memo.set(key, c)
    return c
  }

  const errors: GraphQLError[] = []
  for (const def of doc.definitions) {
    if (def.kind !== Kind.OPERATION_DEFINITION) continue
    const c = selection((def as OperationDefinitionNode).selectionSet, false)
    const name = def.name?.value ?? 'anonymous operation'
    if (c.depth > limits.maxDepth) {
      errors.push(
        tooComplex(
          `${name} is ${Number.isFinite(c.depth) ? c.depth : 'too'} levels deep; the limit is ${limits.maxDepth}`,
          def,
        ),
      )
    } else if (c.cost > limits.maxComplexity) {
      errors.push(
        tooComplex(
          `${name} costs ${Number.isFinite(c.cost) ? c.cost : 'too much'}; the limit is ${limits.maxComplexity} (lower \`first\`)`,
          def,
        ),
      )
    }
  }
  // Aliases are counted as written; repeats through fragments are already paid for in the cost.
  visit(doc, { Field: (f) => void (f.alias && aliases++) })
  if (aliases > limits.maxAliases)
    errors.push(tooComplex(`${aliases} aliases; the limit is ${limits.maxAliases}`))
  return errors
}

function pageValue(v: ValueNode, limits: QueryLimits): number {
  if (v.kind === Kind.INT) return Math.max(0, Math.min(Number(v.value), limits.maxPage))
  // Variables are unknown at validation time: assume the largest page the resolver allows.
  return limits.maxPage
}

function tooComplex(message: string, node?: OperationDefinitionNode): GraphQLError {
  return createGraphQLError(`query refused: ${message}`, {
    nodes: node ? [node] : undefined,
    extensions: { code: 'QUERY_TOO_COMPLEX', http: { status: 400 } },
  })
}
