-- wrk: POST the payload named by the PAYLOAD environment variable
local f = assert(io.open(os.getenv("PAYLOAD"), "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
wrk.headers["Content-Type"] = "text/plain"
f:close()

local errors = 0

response = function(status, headers, body)
    if status ~= 200 then
        errors = errors + 1
    end
end

done = function(summary, latency, requests)
    io.write(string.format("non200 %d\n", errors))
    io.write(string.format("p50_us %d\np99_us %d\n",
             latency:percentile(50), latency:percentile(99)))
end
