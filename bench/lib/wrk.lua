-- The wrk script of bench/lib/load.ts. Prints one JSON line with the results (latencies in
-- µs). With the arguments `<file> <first> <count>` (after `--`), each request's path is the
-- next line of <file> among lines first .. first + count - 1, so every request is a
-- different question; `issued` tells the bench how many were used (more than count: the
-- list ran out and wrapped).
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  if args[1] == nil then
    return
  end
  local first, count = tonumber(args[2]), tonumber(args[3])
  local paths, n = {}, 0
  for line in io.lines(args[1]) do
    n = n + 1
    if n >= first + count then
      break
    end
    if n >= first then
      paths[#paths + 1] = line
    end
  end
  issued = 0
  -- Defined only here: without a request function wrk sends its one static request, as fast as it can.
  request = function()
    issued = issued + 1
    return wrk.format(nil, paths[(issued - 1) % #paths + 1])
  end
end

function done(summary, latency, requests)
  local used = 0
  for _, thread in ipairs(threads) do
    used = used + (thread:get("issued") or 0)
  end
  local e = summary.errors
  io.write(string.format(
    '{"requests":%d,"durationUs":%d,"bytes":%d,"connectErrors":%d,"readErrors":%d,"writeErrors":%d,"statusErrors":%d,"timeouts":%d,"p50Us":%d,"p99Us":%d,"issued":%d}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99), used))
end
