// tokenizer/huge_alloc: an allocator for the tokenizer's large tables (hash tables, word
// cache, per-code-point flags, decode buffers; ~20 MB in all) that asks Linux for
// transparent huge pages. Measured on the 2-core CI VM: first-touching 64 MB of
// ordinary memory costs ~280 ms of page faults, with MADV_HUGEPAGE ~7 ms, and page
// faults were most of the tokenizer's load time. Small allocations use operator new.
#pragma once

#include <sys/mman.h>

#include <cstddef>
#include <new>
#include <string>
#include <vector>

namespace qg::tok {

template <typename T>
struct HugePageAllocator {
  using value_type = T;
  static constexpr size_t kThreshold = size_t{1} << 20;  // bytes; below: operator new

  HugePageAllocator() = default;
  template <typename U>
  HugePageAllocator(const HugePageAllocator<U>&) {}

  T* allocate(size_t n) {
    const size_t bytes = n * sizeof(T);
    if (bytes < kThreshold) return static_cast<T*>(::operator new(bytes, std::align_val_t{alignof(T)}));
    void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw std::bad_alloc();
    ::madvise(p, bytes, MADV_HUGEPAGE);  // a hint: without THP it is ordinary memory
    return static_cast<T*>(p);
  }
  void deallocate(T* p, size_t n) {
    const size_t bytes = n * sizeof(T);
    if (bytes < kThreshold) {
      ::operator delete(p, std::align_val_t{alignof(T)});
    } else {
      ::munmap(p, bytes);
    }
  }
  template <typename U>
  bool operator==(const HugePageAllocator<U>&) const { return true; }
};

template <typename T>
using HugeVector = std::vector<T, HugePageAllocator<T>>;
using HugeString = std::basic_string<char, std::char_traits<char>, HugePageAllocator<char>>;

}  // namespace qg::tok
