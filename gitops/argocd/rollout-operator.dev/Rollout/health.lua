-- Argo CD health check for rollout-operator.dev/Rollout (kstatus-style
-- conditions Ready / Reconciling / Stalled written by rollout-operator).
local hs = {}

local function findCondition(conditions, conditionType)
  if conditions == nil then
    return nil
  end
  for _, condition in ipairs(conditions) do
    if condition.type == conditionType then
      return condition
    end
  end
  return nil
end

-- The first argument that is a non-empty string (arguments may be nil).
local function firstMessage(...)
  for i = 1, select("#", ...) do
    local candidate = select(i, ...)
    if type(candidate) == "string" and candidate ~= "" then
      return candidate
    end
  end
  return nil
end

local function observedIsStale(observed, generation)
  return generation ~= nil and (observed == nil or observed < generation)
end

local function conditionIsStale(condition, generation)
  return generation ~= nil and condition.observedGeneration ~= nil
    and condition.observedGeneration < generation
end

local generation = nil
if obj.metadata ~= nil then
  generation = obj.metadata.generation
end
local status = obj.status

if status == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for rollout status"
  return hs
end

if observedIsStale(status.observedGeneration, generation) then
  hs.status = "Progressing"
  hs.message = "Waiting for rollout spec update to be observed"
  return hs
end

local stalled = findCondition(status.conditions, "Stalled")
local ready = findCondition(status.conditions, "Ready")
local reconciling = findCondition(status.conditions, "Reconciling")

if stalled ~= nil and stalled.status == "True" then
  if conditionIsStale(stalled, generation) then
    hs.status = "Progressing"
    hs.message = "Waiting for rollout spec update to be observed"
    return hs
  end
  hs.status = "Degraded"
  hs.message = firstMessage(stalled.message, status.message, stalled.reason, "Rollout stalled")
  return hs
end

if ready ~= nil and ready.status == "True" then
  if conditionIsStale(ready, generation) then
    hs.status = "Progressing"
    hs.message = "Waiting for rollout spec update to be observed"
    return hs
  end
  hs.status = "Healthy"
  hs.message = firstMessage(ready.message, status.message, "Rollout complete")
  return hs
end

-- No conditions at all (e.g. an older operator): fall back on status.phase.
if stalled == nil and ready == nil and reconciling == nil then
  if status.phase == "Failed" or status.phase == "Blocked" then
    hs.status = "Degraded"
    hs.message = firstMessage(status.message, "Rollout " .. string.lower(status.phase))
    return hs
  end
  if status.phase == "Succeeded" then
    hs.status = "Healthy"
    hs.message = firstMessage(status.message, "Rollout complete")
    return hs
  end
end

hs.status = "Progressing"
local reconcilingMessage = nil
if reconciling ~= nil and reconciling.status == "True" then
  reconcilingMessage = reconciling.message
end
local readyMessage = nil
if ready ~= nil then
  readyMessage = ready.message
end
hs.message = firstMessage(reconcilingMessage, status.message, readyMessage, "Waiting for rollout to finish")
return hs
