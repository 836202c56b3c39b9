-- Argo CD health of a ServiceExport (Multi-Cluster Services) as mizzen reports it: Valid=False (no such Service,
-- an ExternalName Service), Conflict=True (the clusters disagree; the oldest export wins) and Ready=False with a
-- final reason (e.g. NoClusterId: this cluster has no ClusterSet id) are Degraded; Ready=True is Healthy.
local hs = {}
local function find(conditions, t)
  if conditions == nil then return nil end
  for _, c in ipairs(conditions) do
    if c.type == t then return c end
  end
  return nil
end
local function say(c)
  return (c.reason or "") .. ": " .. (c.message or "")
end
local conditions = obj.status and obj.status.conditions or nil
local valid = find(conditions, "Valid")
local conflict = find(conditions, "Conflict")
local ready = find(conditions, "Ready")
local generation = obj.metadata and obj.metadata.generation or 0
local function current(c)
  return c ~= nil and (c.observedGeneration == nil or c.observedGeneration >= generation)
end
if valid ~= nil and valid.status == "False" and current(valid) then
  hs.status = "Degraded"
  hs.message = say(valid)
  return hs
end
if conflict ~= nil and conflict.status == "True" and current(conflict) then
  hs.status = "Degraded"
  hs.message = say(conflict)
  return hs
end
if ready ~= nil and current(ready) then
  if ready.status == "True" then
    hs.status = "Healthy"
  elseif ready.status == "False" and ready.reason ~= "Pending" then
    hs.status = "Degraded"
  else
    hs.status = "Progressing"
  end
  hs.message = say(ready)
  return hs
end
hs.status = "Progressing"
hs.message = "Waiting for the Multi-Cluster Services controller"
return hs
