-- The authorization code flow, one connection per wrk thread (-t N -c N): an authorize
-- request answered by a redirect with a code (AUTHORIZE_METHOD/PATH/BODY), then the code
-- exchanged at the token endpoint (TOKEN_PATH, TOKEN_BODY + the code, AUTH). A flow is
-- two requests; latencies are per request. A failed exchange shows as a non-2xx.
dofile(os.getenv("LUA_DIR") .. "/report.lua")
local authorize = true
local code = ""

request = function()
  if authorize then
    local body = os.getenv("AUTHORIZE_BODY")
    local headers = {}
    if body then headers["Content-Type"] = "application/x-www-form-urlencoded" end
    return wrk.format(os.getenv("AUTHORIZE_METHOD") or "GET", os.getenv("AUTHORIZE_PATH"), headers, body)
  end
  return wrk.format("POST", os.getenv("TOKEN_PATH"), {
    ["Content-Type"] = "application/x-www-form-urlencoded",
    ["Authorization"] = os.getenv("AUTH"),
  }, os.getenv("TOKEN_BODY") .. "&code=" .. code)
end

response = function(status, headers, body)
  if authorize then
    local location = headers["Location"] or headers["location"] or ""
    code = string.match(location, "[?&]code=([^&]+)") or ""
    authorize = code == ""
  else
    authorize = true
  end
end
