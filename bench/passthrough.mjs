// The benchmarks' baseline (a): a bare pass-through worker. It forwards every request to
// ORIGIN_URL with its method, path, query, headers and body, and relays the answer: the
// least any gateway on Workers does, with no auth at all.
export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    return fetch(env.ORIGIN_URL + url.pathname + url.search, {
      method: request.method,
      headers: request.headers,
      body: request.body,
      redirect: "manual",
    });
  },
};
