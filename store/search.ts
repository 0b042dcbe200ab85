/**
 * @module
 * SEARCH criteria (RFC 9051 §6.4.4) as a typed tree, translated to one SQL condition over `messages m` joined
 * with `blobs b`. Sequence numbers are the session's business: it turns them into UID ranges first.
 */

/** A search criterion. Strings match case-insensitively as substrings. */
export type SearchCriteria =
  | { type: "all" }
  | { type: "flag"; flag: string; set: boolean }
  | { type: "header"; field: string; value: string }
  | { type: "body"; value: string }
  | { type: "text"; value: string }
  | { type: "date"; field: "internal" | "sent"; op: "before" | "on" | "since"; date: string }
  | { type: "size"; op: "larger" | "smaller"; size: number }
  | { type: "uids"; ranges: readonly (readonly [number, number])[] }
  | { type: "modseq"; modseq: number }
  | { type: "not"; key: SearchCriteria }
  | { type: "or"; left: SearchCriteria; right: SearchCriteria }
  | { type: "and"; keys: SearchCriteria[] };

/** Whether a criterion needs the blob row (header/body text, sent date). */
export function needsBlob(c: SearchCriteria): boolean {
  switch (c.type) {
    case "header":
    case "body":
    case "text":
      return true;
    case "date":
      return c.field === "sent";
    case "not":
      return needsBlob(c.key);
    case "or":
      return needsBlob(c.left) || needsBlob(c.right);
    case "and":
      return c.keys.some(needsBlob);
    default:
      return false;
  }
}

/** Builds the SQL condition; parameters are appended to `params` ($n numbering continues from its length). */
export function searchSql(c: SearchCriteria, params: unknown[]): string {
  const p = (v: unknown) => {
    params.push(v);
    return `$${params.length}`;
  };
  switch (c.type) {
    case "all":
      return "true";
    case "flag": {
      // \Recent is not kept (RFC 9051 removed it): RECENT/NEW match nothing, OLD everything.
      if (c.flag.toLowerCase() === "\\recent") return c.set ? "false" : "true";
      const has = c.flag.startsWith("\\")
        ? `${p(c.flag)} = ANY(m.flags)`
        : `EXISTS (SELECT 1 FROM unnest(m.flags) f WHERE lower(f) = lower(${p(c.flag)}))`;
      return c.set ? has : `NOT ${has}`;
    }
    case "header": {
      const field = p((c.field + ":").toLowerCase());
      const value = p(c.value.toLowerCase());
      // RFC 9051 §6.4.4: HEADER with an empty value matches every message that has the field.
      return `EXISTS (SELECT 1 FROM regexp_split_to_table(b.header_text, E'\\n') l
                       WHERE starts_with(l, ${field}) AND strpos(substr(l, length(${field}) + 1), ${value}) > 0)`;
    }
    // search_text and header_text are stored lower-cased by JavaScript's toLowerCase() (store/messages.ts), and
    // the terms are lower-cased the same way: no per-row lower() here, and no dependence on the database's locale.
    case "body":
      return `strpos(b.search_text, ${p(c.value.toLowerCase())}) > 0`;
    case "text": {
      const v = p(c.value.toLowerCase());
      return `(strpos(b.search_text, ${v}) > 0 OR strpos(b.header_text, ${v}) > 0)`;
    }
    case "date": {
      // RFC 9051 §6.4.4: dates disregard time and timezone: internal dates by their UTC day, sent dates by the
      // day the Date: header names in its own zone.
      const day = c.field === "internal" ? "(m.internal_date AT TIME ZONE 'UTC')::date" : "b.sent_on";
      const d = `${p(c.date)}::date`;
      const cmp = c.op === "before" ? `${day} < ${d}` : c.op === "on" ? `${day} = ${d}` : `${day} >= ${d}`;
      return c.field === "sent" ? `(b.sent_on IS NOT NULL AND ${cmp})` : cmp;
    }
    case "size":
      return `m.size ${c.op === "larger" ? ">" : "<"} ${p(c.size)}`;
    case "uids": {
      if (!c.ranges.length) return "false";
      // Few ranges: BETWEEN (index range scans). Many (a gappy set): one array parameter whatever the count,
      // never a parameter per range (Postgres allows 65,535 per statement).
      if (c.ranges.length <= 32) {
        return `(${
          c.ranges.map(([a, b]) => (a === b ? `m.uid = ${p(a)}` : `m.uid BETWEEN ${p(a)} AND ${p(b)}`)).join(" OR ")
        })`;
      }
      const uids: number[] = [];
      for (const [a, b] of c.ranges) for (let u = a; u <= b; u++) uids.push(u);
      return `m.uid = ANY(${p(uids)}::bigint[])`;
    }
    case "modseq":
      return `m.modseq >= ${p(c.modseq)}`;
    case "not":
      return `NOT (${searchSql(c.key, params)})`;
    case "or":
      return `((${searchSql(c.left, params)}) OR (${searchSql(c.right, params)}))`;
    case "and":
      return c.keys.length ? c.keys.map((k) => `(${searchSql(k, params)})`).join(" AND ") : "true";
  }
}
