# Varnish in front of the gateway, keeping its answer: the "Varnish hit" of `npm run bench`.
# bench/peers.ts fills in {{GATEWAY_PORT}} and starts varnishd with a small malloc storage
# and varnishncsa writing one access line per request, both pinned to the servers' CPU.
vcl 4.1;

backend gateway {
  .host = "127.0.0.1";
  .port = "{{GATEWAY_PORT}}";
}

sub vcl_recv {
  # The built-in VCL passes requests that carry Authorization; the bench's all do (the
  # gateway checks its caller tokens), and here the answer is kept for everyone.
  if (req.method == "GET" || req.method == "HEAD") {
    return (hash);
  }
}

sub vcl_hash {
  hash_data(req.url);
  return (lookup);
}

sub vcl_backend_response {
  # The gateway says Cache-Control: private; kept for the day regardless, never revalidated.
  set beresp.ttl = 1d;
  set beresp.grace = 0s;
  return (deliver);
}

sub vcl_deliver {
  if (obj.hits > 0) {
    set resp.http.X-Peer-Cache = "HIT";
  } else {
    set resp.http.X-Peer-Cache = "MISS";
  }
}
