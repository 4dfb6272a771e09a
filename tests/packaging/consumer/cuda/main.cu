// Uses an installed pollard's CUDA backend: a per-row mask chosen on the device.
#include <pollard/cuda.cuh>

#include <cstdio>
#include <vector>

int main() {
  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
    std::printf("pollard CUDA consumer: built; no CUDA device to run on\n");
    return 0;
  }
  const std::vector<float> host = {3.0f, -1.0f, 2.0f, 0.5f};
  pollard::cuda::device_buffer<float> w{std::span<const float>(host)};
  const auto m = pollard::cuda::select_mask(pollard::cuda::par, pollard::unstructured{0.5},
                                            pollard::device_view<const float>(w.view(1, 4)))
                     .to_host();
  const bool ok = m.pruned(0, 1) && m.pruned(0, 3) && m.kept(0, 0) && m.kept(0, 2);
  std::printf("pollard CUDA consumer: %s\n", ok ? "ok" : "FAILED");
  return ok ? 0 : 1;
}
