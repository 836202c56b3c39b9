-- Argo CD health of a mizzen IstioOperator. Unlike Argo CD's built-in check for this kind, it reads
-- status.observedGeneration (a status written for an older spec is not this spec's health), ACTION_REQUIRED and
-- the status message mizzen writes (which component waits for what, or why the spec was rejected).
local hs = {}
if obj.metadata ~= nil and obj.metadata.deletionTimestamp ~= nil then
  hs.status = "Progressing"
  hs.message = "Deleting: mizzen removes what it installed"
  return hs
end
local st = obj.status
if st == nil or st.status == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for mizzen to reconcile"
  return hs
end
local generation = obj.metadata and obj.metadata.generation or 0
if st.observedGeneration == nil or st.observedGeneration < generation then
  hs.status = "Progressing"
  hs.message = "Waiting for mizzen to reconcile generation " .. tostring(generation)
  return hs
end
local message = st.message or ""
if st.status == "HEALTHY" then
  hs.status = "Healthy"
elseif st.status == "RECONCILING" or st.status == "UPDATING" then
  hs.status = "Progressing"
elseif st.status == "ERROR" or st.status == "ACTION_REQUIRED" then
  hs.status = "Degraded"
elseif st.status == "NONE" then
  hs.status = "Unknown"
else
  hs.status = "Unknown"
  message = "Unknown status " .. tostring(st.status) .. ". " .. message
end
hs.message = message
return hs
