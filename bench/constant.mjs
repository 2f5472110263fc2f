// A reference, not a target: a JS worker that answers every request at once with the
// gateway's 401 body and no subrequest. Its req/s is the ceiling of workerd plus the load
// generator on this machine, the most any in-worker rejection could reach.
const BODY = JSON.stringify({
  error: {
    code: "unauthorized",
    message: "Invalid API key",
    details: "The API key provided is invalid or has been revoked",
  },
});

export default {
  fetch() {
    return new Response(BODY, {
      status: 401,
      headers: { "content-type": "application/json", "cache-control": "no-store" },
    });
  },
};
