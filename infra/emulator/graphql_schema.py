"""The subset of RunPod's GraphQL schema the emulator serves, as SDL; documents are validated against it.

Type and field names follow what the `runpod` 1.12 SDK sends (runpod/api/queries/*.py,
runpod/api/mutations/pods.py) and RunPod's published GraphQL reference (docs.runpod.io/sdks/graphql).
A document asking for a field outside this subset fails validation with graphql-core's own message
(`Cannot query field "x" on type "Pod".`), as any GraphQL server answers it.
"""

from __future__ import annotations

from functools import cache

from graphql import GraphQLSchema, build_schema

SDL = """
scalar Void

enum CloudTypeEnum { ALL SECURE COMMUNITY }
enum PodType { INTERRUPTABLE RESERVED BID BACKGROUND }

input GpuTypeFilter { id: String ids: [String] }
input GpuLowestPriceInput {
  gpuCount: Int
  dataCenterId: String
  secureCloud: Boolean
  minDisk: Int
  minMemoryInGb: Int
  minVcpuCount: Int
  countryCode: String
  supportPublicIp: Boolean
  compliance: [String]
  globalNetwork: Boolean
}
input PodFilter { podId: String! }
input EnvironmentVariableInput { key: String! value: String }
input PodFindAndDeployOnDemandInput {
  name: String
  imageName: String
  gpuTypeId: String
  gpuTypeIdList: [String]
  cloudType: CloudTypeEnum
  gpuCount: Int
  volumeInGb: Int
  containerDiskInGb: Int
  minVcpuCount: Int
  minMemoryInGb: Int
  dockerArgs: String
  ports: String
  volumeMountPath: String
  env: [EnvironmentVariableInput]
  supportPublicIp: Boolean
  startSsh: Boolean
  startJupyter: Boolean
  dataCenterId: String
  countryCode: String
  templateId: String
  networkVolumeId: String
  allowedCudaVersions: [String]
  minDownload: Int
  minUpload: Int
  deployCost: Float
  stopAfter: String
  terminateAfter: String
  instanceId: String
}
input deployCpuPodInput {
  name: String
  imageName: String
  instanceId: String
  cloudType: CloudTypeEnum
  containerDiskInGb: Int
  volumeInGb: Int
  dockerArgs: String
  ports: String
  volumeMountPath: String
  env: [EnvironmentVariableInput]
  startSsh: Boolean
  startJupyter: Boolean
  dataCenterId: String
  countryCode: String
  templateId: String
  networkVolumeId: String
  supportPublicIp: Boolean
  minDownload: Int
  minUpload: Int
  deployCost: Float
}
input PodStopInput { podId: String! incrementVersion: Boolean }
input PodResumeInput { podId: String! gpuCount: Int }
input PodTerminateInput { podId: String! }

type LowestPrice {
  gpuName: String
  gpuTypeId: String
  minimumBidPrice: Float
  uninterruptablePrice: Float
  minMemory: Int
  minVcpu: Int
  stockStatus: String
  maxUnreservedGpuCount: Int
  availableGpuCounts: [Int]
}

type GpuType {
  id: String
  displayName: String
  manufacturer: String
  memoryInGb: Int
  cudaCores: Int
  secureCloud: Boolean
  communityCloud: Boolean
  securePrice: Float
  communityPrice: Float
  secureSpotPrice: Float
  communitySpotPrice: Float
  oneMonthPrice: Float
  threeMonthPrice: Float
  oneWeekPrice: Float
  maxGpuCount: Int
  maxGpuCountSecureCloud: Int
  maxGpuCountCommunityCloud: Int
  lowestPrice(input: GpuLowestPriceInput): LowestPrice
}

type PodRuntimePorts { ip: String isIpPublic: Boolean privatePort: Int publicPort: Int type: String }
type GpuTelemetry { id: String gpuUtilPercent: Int memoryUtilPercent: Int }
type PodRuntimeContainer { cpuPercent: Int memoryPercent: Int }
type PodRuntime {
  uptimeInSeconds: Int
  ports: [PodRuntimePorts]
  gpus: [GpuTelemetry]
  container: PodRuntimeContainer
}

type Machine {
  podHostId: String
  gpuDisplayName: String
  gpuTypeId: String
  gpuType: GpuType
  dataCenterId: String
  location: String
  secureCloud: Boolean
}

type NetworkVolume { id: String name: String size: Int dataCenterId: String }

type Pod {
  id: String
  name: String
  imageName: String
  desiredStatus: String
  podType: PodType
  cloudType: CloudTypeEnum
  interruptible: Boolean
  locked: Boolean
  containerDiskInGb: Int
  volumeInGb: Float
  volumeMountPath: String
  volumeEncrypted: Boolean
  costPerHr: Float
  adjustedCostPerHr: Float
  gpuCount: Int
  vcpuCount: Float
  memoryInGb: Float
  dockerArgs: String
  dockerId: String
  env: [String]
  ports: String
  port: Int
  templateId: String
  machineId: String
  lastStatusChange: String
  uptimeSeconds: Int
  networkVolumeId: String
  networkVolume: NetworkVolume
  dataCenterId: String
  machine: Machine
  runtime: PodRuntime
}

type DataCenterGpuAvailability {
  id: String
  gpuTypeId: String
  displayName: String
  gpuTypeDisplayName: String
  available: Boolean
  stockStatus: String
}

type DataCenter {
  id: String
  name: String
  location: String
  storageSupport: Boolean
  gpuAvailability: [DataCenterGpuAvailability]
}

type User {
  id: String
  email: String
  pubKey: String
  clientBalance: Float
  currentSpendPerHr: Float
  spendLimit: Int
  pods: [Pod]
  networkVolumes: [NetworkVolume]
}

type Query {
  gpuTypes(input: GpuTypeFilter): [GpuType]
  pod(input: PodFilter): Pod
  myself: User
  dataCenters: [DataCenter]
}

type Mutation {
  podFindAndDeployOnDemand(input: PodFindAndDeployOnDemandInput): Pod
  deployCpuPod(input: deployCpuPodInput): Pod
  podStop(input: PodStopInput!): Pod
  podResume(input: PodResumeInput!): Pod
  podTerminate(input: PodTerminateInput!): Void
}
"""


@cache
def schema() -> GraphQLSchema:
    return build_schema(SDL)
