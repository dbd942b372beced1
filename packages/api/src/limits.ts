import { maxAliasesRule } from '@escape.tech/graphql-armor-max-aliases'
import { maxDepthRule } from '@escape.tech/graphql-armor-max-depth'
import { maxDirectivesRule } from '@escape.tech/graphql-armor-max-directives'
import {
  type DocumentNode,
  type FieldNode,
  type FragmentDefinitionNode,
  type GraphQLError,
  type GraphQLSchema,
  Kind,
  type OperationDefinitionNode,
  type SelectionSetNode,
  type ValueNode,
  type ValidationRule,
  validate as graphqlValidate,
} from 'graphql'
import { type ApiResponseCode, createGraphQLError } from './errors.js'

export interface QueryLimits {
  /** Deepest field nesting allowed (GraphQL Armor max-depth; `__schema` introspection is exempt). */
  maxDepth: number
  /** Cost cap: each field costs 1, times the list sizes above it (see `checkQueryCost`). */
  maxComplexity: number
  /** Aliased fields per operation (GraphQL Armor max-aliases; aliases multiply a costly field). */
  maxAliases: number
  /** Directives per operation (GraphQL Armor max-directives). */
  maxDirectives: number
  /** Page size assumed for a connection whose `first` is absent. */
  defaultPage: number
  /** Page size assumed for a `first` given as a variable (not known at validation time). */
  maxPage: number
  /** Elements assumed for `Block.txIds` (its real length, the block's tx count, is charged at run time). */
  txIdsPerBlock: number
  /** Cost of one unindexed `transactions(filter)` scan (it may read `maxScanBlocks` blocks). */
  scanCost: number
}

/** Connections (and `evidence`): their children repeat once per page item (`first`). */
const PAGED = new Set(['blocks', 'transactions', 'evidence'])

/**
 * Check a parsed document against every limit before graphql-js validates it (some standard rules are
 * quadratic, so hostile documents must be refused first): depth, aliases and directives with GraphQL
 * Armor's rules, then the list-size cost, which Armor's cost-limit cannot express (it prices a field by
 * its depth, not by `first` or the length of the list it returns).
 */
export function checkQueryLimits(
  schema: GraphQLSchema,
  doc: DocumentNode,
  limits: QueryLimits,
  // The server passes yoga's own validate: the schema must meet the graphql instance that built it.
  validate: (s: GraphQLSchema, d: DocumentNode, rules: ValidationRule[]) => readonly GraphQLError[] = graphqlValidate,
): GraphQLError[] {
  const armor: GraphQLError[] = []
  const onReject = [(_: unknown, err: GraphQLError) => void armor.push(tooComplex(armorMessage(err)))]
  const common = { propagateOnRejection: false, exposeLimits: true, onReject }
  validate(schema, doc, [
    maxDepthRule({ ...common, n: limits.maxDepth, ignoreIntrospection: true }),
    maxAliasesRule({ ...common, n: limits.maxAliases }),
    maxDirectivesRule({ ...common, n: limits.maxDirectives }),
  ])
  if (armor.length > 0) return armor
  return checkQueryCost(doc, limits)
}

/** Armor words its refusals as syntax errors; they are limits. */
const armorMessage = (err: GraphQLError) => err.message.replace(/^Syntax Error:\s*/, '')

interface Cost {
  cost: number
}

/**
 * The list-size cost: each field costs 1; the children of a connection cost `first` times (the default
 * page when absent, the largest page when a variable); `Block.txIds` costs `txIdsPerBlock`; a
 * `transactions` query that is not a literal payloadHash lookup adds `scanCost`. Aliases are separate
 * fields, so they multiply the cost by themselves. Fragments are costed once each (memoised), so fragment
 * fan-out cannot blow up the check itself; fragment cycles stop the walk (NoFragmentCycles reports them).
 */
export function checkQueryCost(doc: DocumentNode, limits: QueryLimits): GraphQLError[] {
  const fragments = new Map<string, FragmentDefinitionNode>()
  for (const def of doc.definitions) {
    if (def.kind === Kind.FRAGMENT_DEFINITION) fragments.set(def.name.value, def)
  }
  const memo = new Map<string, Cost>()
  const visiting = new Set<string>()

  const own = (field: FieldNode, root: boolean): number => {
    if (field.name.value === 'txIds') return limits.txIdsPerBlock
    // Query.transactions scans; Block.transactions pages one loaded block.
    if (root && field.name.value === 'transactions' && isScan(field)) return 1 + limits.scanCost
    return 1
  }

  const pageOf = (field: FieldNode): number => {
    if (!PAGED.has(field.name.value)) return 1
    const arg = field.arguments?.find((a) => a.name.value === 'first')
    if (!arg) return limits.defaultPage
    return pageValue(arg.value, limits)
  }

  const selection = (set: SelectionSetNode | undefined, introspection: boolean, root: boolean): Cost => {
    if (!set) return { cost: 0 }
    let cost = 0
    for (const sel of set.selections) {
      let c: Cost
      if (sel.kind === Kind.FIELD) {
        const intro = introspection || sel.name.value.startsWith('__')
        const child = selection(sel.selectionSet, intro, false)
        c = { cost: intro ? 1 + child.cost : own(sel, root) + pageOf(sel) * child.cost }
      } else if (sel.kind === Kind.INLINE_FRAGMENT) {
        c = selection(sel.selectionSet, introspection, root)
      } else {
        c = fragment(sel.name.value, introspection, root)
      }
      cost += c.cost
    }
    return { cost }
  }

  const fragment = (name: string, introspection: boolean, root: boolean): Cost => {
    const key = `${introspection ? 'i' : 'q'}${root ? 'r' : ''}:${name}`
    const hit = memo.get(key)
    if (hit) return hit
    const def = fragments.get(name)
    if (!def || visiting.has(key)) return { cost: 0 }
    visiting.add(key)
    const c = selection(def.selectionSet, introspection, root)
    visiting.delete(key)
    memo.set(key, c)
    return c
  }

  const errors: GraphQLError[] = []
  for (const def of doc.definitions) {
    if (def.kind !== Kind.OPERATION_DEFINITION) continue
    const c = selection((def as OperationDefinitionNode).selectionSet, false, true)
    const name = def.name?.value ?? 'anonymous operation'
    if (c.cost > limits.maxComplexity) {
      errors.push(
        tooComplex(
          `${name} costs ${Number.isFinite(c.cost) ? c.cost : 'too much'}; the limit is ${limits.maxComplexity} (lower \`first\`, ask for fewer lists, or use fewer aliases)`,
          def,
        ),
      )
    }
  }
  return errors
}

/** A `transactions` field scans blocks unless its filter is a literal object with a payloadHash (index lookup). */
function isScan(field: FieldNode): boolean {
  const filter = field.arguments?.find((a) => a.name.value === 'filter')?.value
  if (filter?.kind !== Kind.OBJECT) return true
  return !filter.fields.some((f) => f.name.value === 'payloadHash' && f.value.kind !== Kind.NULL)
}

function pageValue(v: ValueNode, limits: QueryLimits): number {
  if (v.kind === Kind.INT) return Math.max(0, Math.min(Number(v.value), limits.maxPage))
  // Variables are unknown at validation time: assume the largest page the resolver allows.
  return limits.maxPage
}

function tooComplex(message: string, node?: OperationDefinitionNode): GraphQLError {
  return createGraphQLError(`query refused: ${message}`, {
    nodes: node ? [node] : undefined,
    extensions: { code: 'QUERY_TOO_COMPLEX' satisfies ApiResponseCode, http: { status: 400 } },
  })
}
