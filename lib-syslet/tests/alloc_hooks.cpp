// Replaces the global operator new of the test binary to count the heap
// allocations a thread makes while it sets counting_allocations.  Kept in a
// file of its own: no test code is inlined against it.
#include <atomic>
#include <cstdlib>
#include <new>

namespace syslet_test
{
std::atomic<long> allocations{0};
thread_local bool counting_allocations = false;
} // namespace syslet_test

void* operator new(std::size_t size)
{
	if (syslet_test::counting_allocations)
		syslet_test::allocations.fetch_add(1, std::memory_order_relaxed);
	if (void* p = std::malloc(size == 0 ? 1 : size))
		return p;
	throw std::bad_alloc();
}
void* operator new[](std::size_t size)
{
	return operator new(size);
}
void operator delete(void* p) noexcept
{
	std::free(p);
}
void operator delete[](void* p) noexcept
{
	std::free(p);
}
void operator delete(void* p, std::size_t) noexcept
{
	std::free(p);
}
void operator delete[](void* p, std::size_t) noexcept
{
	std::free(p);
}
