/**
 * @module
 * The web admin panel, Hono + Preact (step 6 of the roadmap; not built yet). Until then, administration is the
 * CLI (`user …`, `domain …`, `alias …`), which also works against a running server over its control socket.
 */
export {};
