// lib-syslet layer 3: atoms and chains.
//
// A syslet atom names its arguments by *address*.  syslet::chain owns
// everything those addresses point to -- the atoms, the argument values,
// the result slots, chain variables, copied strings and buffers -- in
// storage that does not move when the chain object is moved (the heap, or
// for the main thread's first chain static TLS; see chain_state_cache).
// Addresses are written into the atoms only when the chain is submitted,
// and a chain cannot be changed while it is in flight, so a chain built
// with this API cannot hand the kernel a dangling pointer.  Destroying a chain that is
// still in flight hands its storage to the ring, which frees it when the
// chain completes.
//
// Atoms are linked in the order they are added (each atom's `next` is the
// one added after it); link() and end_after() change that.  Because atoms
// sit in one array, SYSLET_SKIP_TO_NEXT_ON_STOP continues at the atom added
// right after the stopping one.
#pragma once

#include "abi.hpp"
#include "error.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <initializer_list>
#include <limits>
#include <memory>
#include <new>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#if __has_include(<sys/single_threaded.h>)
#include <sys/single_threaded.h>
#endif

namespace syslet
{

// Flags of one atom (SYSLET_* in the uapi header), combinable with `|`.
class atom_flags
{
public:
	constexpr atom_flags() noexcept = default;
	constexpr explicit atom_flags(std::uint64_t bits) noexcept : bits_(bits) {}
	constexpr std::uint64_t bits() const noexcept { return bits_; }
	constexpr bool contains(atom_flags other) const noexcept
	{
		return (bits_ & other.bits_) == other.bits_;
	}
	friend constexpr atom_flags operator|(atom_flags a, atom_flags b) noexcept
	{
		return atom_flags{a.bits_ | b.bits_};
	}
	friend constexpr bool operator==(atom_flags, atom_flags) noexcept = default;

private:
	std::uint64_t bits_ = 0;
};

namespace flag
{
// Execution mode, meaningful on the first atom of a chain only.
inline constexpr atom_flags async{SYSLET_ASYNC}; // queue at once, complete via the ring
inline constexpr atom_flags sync{SYSLET_SYNC};   // never go asynchronous
// Do not post the chain to the ring if it ends on this atom asynchronously.
inline constexpr atom_flags no_complete{SYSLET_NO_COMPLETE};
// Stop the chain after this atom depending on its result...
inline constexpr atom_flags stop_on_nonzero{SYSLET_STOP_ON_NONZERO};
inline constexpr atom_flags stop_on_zero{SYSLET_STOP_ON_ZERO};
inline constexpr atom_flags stop_on_negative{SYSLET_STOP_ON_NEGATIVE};
inline constexpr atom_flags stop_on_non_positive{SYSLET_STOP_ON_NON_POSITIVE};
// ...or, with this flag, continue at the linearly next atom instead.
inline constexpr atom_flags skip_to_next_on_stop{SYSLET_SKIP_TO_NEXT_ON_STOP};
} // namespace flag

// An atom of a chain, usable as an argument: "the result of that atom".
struct atom_ref {
	std::size_t index;
	friend bool operator==(atom_ref, atom_ref) = default;
};

// A 64-bit variable owned by a chain, usable as an argument by any atom.
struct var_ref {
	std::size_t index;
	friend bool operator==(var_ref, var_ref) = default;
};

// A string the chain copies when the call is added to it (chain::add), and
// passes to the system call by address.  Until then it only refers to the
// caller's characters: build a call and add it in one expression, or keep
// the string alive until it is added.
struct owned_string {
	std::string_view text;
};

// One system call argument: a value (integers and pointers), the result of
// another atom, a chain variable, or a string copied into the chain.
class arg
{
public:
	constexpr arg() noexcept = default;
	template <class Integer>
	requires std::is_integral_v<Integer> || std::is_enum_v<Integer>
	constexpr arg(Integer value) noexcept // NOLINT: implicit by design
	    : source_(static_cast<std::uint64_t>(value))
	{
	}
	template <class T>
	arg(T* pointer) noexcept // NOLINT: implicit by design
	    : source_(abi::address_of(pointer))
	{
	}
	constexpr arg(std::nullptr_t) noexcept : source_(std::uint64_t{0}) {} // NOLINT
	constexpr arg(atom_ref result_of) noexcept : source_(result_of) {}    // NOLINT
	constexpr arg(var_ref variable) noexcept : source_(variable) {}       // NOLINT
	constexpr arg(owned_string text) noexcept : source_(text) {}          // NOLINT

	using source = std::variant<std::uint64_t, atom_ref, var_ref, owned_string>;
	const source& get() const noexcept { return source_; }
	bool is_value_or_string() const noexcept
	{
		return std::holds_alternative<std::uint64_t>(source_) ||
		       std::holds_alternative<owned_string>(source_);
	}

private:
	source source_{std::uint64_t{0}};
};

// A system call with its arguments: what one atom runs.  A plain value
// (no heap storage); strings are copied by the chain it is added to.
class call
{
public:
	call(long number, std::initializer_list<arg> arguments) : nr(number)
	{
		if (arguments.size() > abi::max_args)
			detail_invalid_argument("syslet::call: at most 6 arguments");
		std::copy(arguments.begin(), arguments.end(), args_.begin());
		nr_args_ = arguments.size();
		for (const arg& a : arguments)
			values_only_ = values_only_ && a.is_value_or_string();
	}

	std::span<const arg> args() const noexcept { return {args_.data(), nr_args_}; }
	// Every argument is a plain value or a string (no atom result, no
	// chain variable).
	bool values_only() const noexcept { return values_only_; }

	long nr;

private:
	[[noreturn]] static void detail_invalid_argument(const char* what)
	{
		SYSLET_THROW(std::invalid_argument(what));
	}

	std::array<arg, abi::max_args> args_{};
	std::size_t nr_args_ = 0;
	bool values_only_ = true;
};

// How a chain's completion was observed.
enum class completion_path {
	cached,     // async_exec() returned it: it never left the caller
	ring,       // it went asynchronous and was reaped from the completion ring
	unobserved, // it went asynchronous and ended on a NO_COMPLETE atom
};

struct completion {
	static constexpr std::size_t unknown_atom = std::numeric_limits<std::size_t>::max();

	std::size_t final_atom = unknown_atom; // index of the atom the chain ended on
	std::int64_t value = 0;                // that atom's raw result (-errno on failure)
	completion_path path = completion_path::cached;

	syscall_result result() const noexcept
	{
		if (final_atom == unknown_atom)
			return errno_code(ENODATA);
		return from_kernel_return(value);
	}
};

using completion_callback = std::function<void(const completion&)>;

namespace detail
{

class chain_state;
struct launch_ticket;

// The ring a chain is in flight on.
class chain_owner
{
public:
	// The chain object goes away: true if the ring keeps @state (in flight,
	// its completion not delivered yet, or its callback still running on
	// a reaping thread) and frees it later.
	virtual bool adopt_if_busy(chain_state& state) noexcept = 0;
	virtual result<void> wait_for(const chain_state& state,
				      std::optional<std::chrono::nanoseconds> timeout) = 0;
	virtual result<void> cancel(chain_state& state, int reason) = 0;

protected:
	chain_owner() = default;
	chain_owner(const chain_owner&) = default;
	chain_owner& operator=(const chain_owner&) = default;
	~chain_owner() = default;
};

[[noreturn]] inline void contract_violation(const char* what)
{
	SYSLET_THROW(std::logic_error(what));
}

// Result slot value of an atom that did not run.
inline constexpr std::int64_t not_run = std::numeric_limits<std::int64_t>::min();
inline constexpr std::size_t no_next = std::numeric_limits<std::size_t>::max();

// A vector of trivially copyable T with room for N elements inside the
// object; it keeps its heap storage when cleared, so a reused chain does
// not allocate again.
template <class T, std::size_t N>
class small_vector
{
	static_assert(std::is_trivially_copyable_v<T>);

public:
	small_vector() = default;
	small_vector(const small_vector&) = delete;
	small_vector& operator=(const small_vector&) = delete;
	~small_vector() = default;

	T* data() noexcept { return data_; }
	const T* data() const noexcept { return data_; }
	std::size_t size() const noexcept { return size_; }
	bool empty() const noexcept { return size_ == 0; }
	T& operator[](std::size_t i) noexcept { return data()[i]; }
	const T& operator[](std::size_t i) const noexcept { return data()[i]; }
	T* begin() noexcept { return data(); }
	T* end() noexcept { return data() + size_; }
	const T* begin() const noexcept { return data(); }
	const T* end() const noexcept { return data() + size_; }

	// Makes room for one more element (may throw); push_back then cannot.
	void reserve_one()
	{
		const std::size_t capacity = heap_ ? heap_capacity_ : N;
		if (size_ < capacity)
			return;
		const std::size_t bigger = capacity * 2;
		auto grown = std::make_unique<T[]>(bigger);
		std::copy(begin(), end(), grown.get());
		heap_ = std::move(grown);
		data_ = heap_.get();
		heap_capacity_ = bigger;
	}
	void push_back(const T& value) noexcept { data()[size_++] = value; }
	// Heap storage kept (0 while the elements fit inside the object).
	std::size_t heap_bytes() const noexcept { return heap_ ? heap_capacity_ * sizeof(T) : 0; }
	bool on_heap() const noexcept { return heap_ != nullptr; }
	// Frees heap storage for more than @max elements (the vector must be
	// empty): back inside the object.
	void release_heap_beyond(std::size_t max) noexcept
	{
		if (!heap_ || heap_capacity_ <= max || size_ != 0)
			return;
		heap_.reset();
		data_ = inline_.data();
		heap_capacity_ = 0;
	}
	// After reserve_one(): the element one past the end, to fill in place
	// before commit_one() makes it part of the vector.
	T& slot_past_end() noexcept { return data()[size_]; }
	void commit_one() noexcept { ++size_; }
	void clear() noexcept { size_ = 0; }

private:
	std::array<T, N> inline_{};
	std::unique_ptr<T[]> heap_;
	T* data_ = inline_.data(); // inline_ or heap_: the object never moves
	std::size_t size_ = 0;
	// (0 while inline: a new chain_state is all zeros but for pointers to
	// itself, and its constructor reads no constant from .rodata, a page
	// a process's first chain would have to fault in.)
	std::size_t heap_capacity_ = 0;
};

// Copies of path strings: in the chain object for short ones, else in
// chunks it keeps for reuse.  A stored string never moves.
class string_arena
{
public:
	static constexpr std::size_t default_chunk_size = 4096;

	const char* store(std::string_view text)
	{
		const std::size_t need = text.size() + 1;
		if (inline_.size() - inline_used_ < need)
			return store_in_chunk(text);
		char* at = inline_.data() + inline_used_;
		inline_used_ += need;
		if (!text.empty())
			std::memcpy(at, text.data(), text.size());
		at[text.size()] = '\0';
		return at;
	}
	void clear() noexcept
	{
		inline_used_ = 0;
		chunk_index_ = 0;
		chunk_used_ = 0;
	}

	bool has_chunks() const noexcept { return !chunks_.empty(); }

	// Empties the arena and keeps chunks of at most max_kept_bytes in
	// all (a chain state going back to the cache: one-shots whose paths
	// fit there, one long path or a few shorter ones, allocate nothing in
	// steady state, and what longer paths, or many paths in one chain,
	// grew beyond that is freed).
	static constexpr std::size_t max_kept_bytes = 4 * default_chunk_size;
	static constexpr std::size_t max_kept_chunks = 4;
	void clear_and_trim() noexcept
	{
		clear();
		std::size_t bytes = 0;
		std::size_t kept = 0;
		for (chunk& grown : chunks_) {
			if (bytes + grown.size > max_kept_bytes)
				continue;
			bytes += grown.size;
			if (&chunks_[kept] != &grown)
				chunks_[kept] = std::move(grown);
			++kept;
		}
		chunks_.erase(chunks_.begin() + static_cast<std::ptrdiff_t>(kept), chunks_.end());
		if (chunks_.capacity() > max_kept_chunks) {
			// (The array of a chain that stored many paths.)
			(void)detail::try_invoke([&] {
				std::vector<chunk> fewer;
				fewer.reserve(max_kept_chunks);
				for (chunk& left : chunks_)
					fewer.push_back(std::move(left));
				chunks_.swap(fewer);
			});
		}
	}

	// Bytes of the chunks kept.
	std::size_t chunk_bytes() const noexcept
	{
		std::size_t bytes = 0;
		for (const chunk& kept : chunks_)
			bytes += kept.size;
		return bytes;
	}

private:
	const char* store_in_chunk(std::string_view text)
	{
		const std::size_t need = text.size() + 1;
		while (chunk_index_ < chunks_.size() && chunks_[chunk_index_].size - chunk_used_ < need) {
			++chunk_index_;
			chunk_used_ = 0;
		}
		if (chunk_index_ == chunks_.size()) {
			const std::size_t size = std::max(default_chunk_size, need);
			chunks_.push_back({std::make_unique<char[]>(size), size});
			chunk_used_ = 0;
		}
		char* at = chunks_[chunk_index_].bytes.get() + chunk_used_;
		chunk_used_ += need;
		text.copy(at, text.size());
		at[text.size()] = '\0';
		return at;
	}

	struct chunk {
		std::unique_ptr<char[]> bytes;
		std::size_t size;
	};
	std::array<char, 256> inline_{};
	std::size_t inline_used_ = 0;
	std::vector<chunk> chunks_;
	std::size_t chunk_index_ = 0;
	std::size_t chunk_used_ = 0;
};

class chain_state
{
public:
	enum class status : std::uint8_t { idle, in_flight, done };
	using clock = std::chrono::steady_clock;

	std::size_t add(const call& c, atom_flags flags)
	{
		if (atoms_.empty() && c.values_only() && (flags.bits() & ~abi::valid_flags) == 0 &&
		    state() != status::in_flight) {
			add_first_values_only(c, flags.bits());
			return 0;
		}
		return add_any(c, flags);
	}

	// add() of any atom.  (Out of line: a one-shot, the first atom of an
	// empty chain, takes add_first_values_only(), inlined in add().)
	[[gnu::noinline]] std::size_t add_any(const call& c, atom_flags flags)
	{
		if ((flags.bits() & ~abi::valid_flags) != 0)
			SYSLET_THROW(std::invalid_argument("syslet::chain: unknown atom flags"));
		require_not_in_flight();
		atoms_.reserve_one();
		extras_.reserve_one();
		const std::size_t index = atoms_.size();
		// Filled in place; committed (size grows) only once nothing can
		// throw any more (storing a string may).  Field by field: only
		// the first nr_args sources and values are ever read.
		atom_extra& extra = extras_.slot_past_end();
		extra.flags = flags.bits();
		extra.result = not_run;
		extra.next = no_next;
		extra.ended_explicitly = false;
		const auto args = c.args();
		bool values_only = true;
		for (std::size_t i = 0; i < args.size(); ++i) {
			extra.sources[i] = make_source(args[i], extra.values[i]);
			values_only = values_only && extra.sources[i].kind == source_kind::value;
		}
		extra.nr_args = static_cast<std::uint8_t>(args.size());
		abi::atom& atom = atoms_.slot_past_end();
		atom.flags = flags.bits();
		atom.nr = static_cast<std::uint64_t>(c.nr);
		atoms_.commit_one();
		extras_.commit_one();
		if (index == 0 && values_only) {
			// The first atom of a fresh chain (a one-shot operation):
			// its addresses are final already (nothing links to it,
			// and it links to nothing yet), so materialize() has
			// nothing to redo.  A later add(), link() or variable
			// clears materialized_ again.
			atom.ret_ptr = abi::address_of(&extra.result);
			atom.next = 0;
			for (std::size_t a = 0; a < abi::max_args; ++a)
				atom.arg_ptr[a] = a < args.size() ? abi::address_of(&extra.values[a]) : 0;
			abi::user_data(atom) = abi::address_of(this);
			materialized_ = true;
		} else {
			materialized_ = false;
		}
		if (index > 0 && extras_[index - 1].next == no_next && !extras_[index - 1].ended_explicitly)
			extras_[index - 1].next = index;
		return index;
	}

	// add() of the first atom of an empty chain whose arguments are all
	// plain values or strings (every one-shot operation): its addresses
	// are final at once (nothing links to it, it links to nothing yet),
	// so materialize() has nothing to redo until a later add(), link()
	// or variable changes the chain.  The inline room of atoms_ and
	// extras_ holds it: nothing to reserve.
	void add_first_values_only(const call& c, std::uint64_t flags)
	{
		atom_extra& extra = *extras_.data();
		abi::atom& atom = *atoms_.data();
		const auto args = c.args();
		const std::size_t nr_args = args.size();
		for (std::size_t i = 0; i < nr_args; ++i) {
			const arg::source& source = args[i].get();
			if (const auto* text = std::get_if<owned_string>(&source))
				extra.values[i] = abi::address_of(store_string(text->text));
			else
				extra.values[i] = *std::get_if<std::uint64_t>(&source);
			extra.sources[i] = {source_kind::value, 0};
		}
		extra.flags = flags;
		extra.result = not_run;
		extra.next = no_next;
		extra.ended_explicitly = false;
		extra.nr_args = static_cast<std::uint8_t>(nr_args);
		atom.flags = flags;
		atom.nr = static_cast<std::uint64_t>(c.nr);
		atom.ret_ptr = abi::address_of(&extra.result);
		atom.next = 0;
		std::fill(std::begin(atom.arg_ptr), std::end(atom.arg_ptr), 0);
		for (std::size_t a = 0; a < nr_args; ++a)
			atom.arg_ptr[a] = abi::address_of(&extra.values[a]);
		abi::user_data(atom) = abi::address_of(this);
		atoms_.commit_one();
		extras_.commit_one();
		materialized_ = true;
	}

	void link(std::size_t from, std::size_t to)
	{
		require_not_in_flight();
		check_atom(from);
		check_atom(to);
		extras_[from].next = to;
		extras_[from].ended_explicitly = false;
		materialized_ = false;
	}

	void end_after(std::size_t atom)
	{
		require_not_in_flight();
		check_atom(atom);
		extras_[atom].next = no_next;
		extras_[atom].ended_explicitly = true;
		materialized_ = false;
	}

	std::size_t add_variable(std::uint64_t initial)
	{
		require_not_in_flight();
		variables_.push_back(initial);
		materialized_ = false; // the variables may have moved
		return variables_.size() - 1;
	}

	std::uint64_t variable(std::size_t index) const
	{
		require_not_in_flight();
		if (index >= variables_.size())
			contract_violation("syslet::chain: no such variable");
		return variables_[index];
	}

	void set_variable(std::size_t index, std::uint64_t value)
	{
		require_not_in_flight();
		if (index >= variables_.size())
			contract_violation("syslet::chain: no such variable");
		variables_[index] = value;
	}

	const char* store_string(std::string_view text) { return strings_.store(text); }

	void keep_alive(std::shared_ptr<void> object) { objects_.push_back(std::move(object)); }

	std::size_t size() const noexcept { return atoms_.size(); }
	status state() const noexcept { return status_.load(std::memory_order_acquire); }

	std::int64_t raw_result(std::size_t atom) const
	{
		require_not_in_flight();
		check_atom(atom);
		return extras_[atom].result;
	}

	bool may_end_silently() const noexcept
	{
		for (const auto& extra : extras_)
			if ((extra.flags & SYSLET_NO_COMPLETE) != 0)
				return true;
		return false;
	}

	// The flags the caller gave the first atom.
	std::uint64_t first_flags() const noexcept { return extras_.empty() ? 0 : extras_[0].flags; }

	// Writes every address into the atoms; returns the first atom.
	// @extra_first_flags is or-ed into the first atom's flags (the ring
	// adds SYSLET_ASYNC for a chain that may block its caller).
	// The addresses are written once and kept while the chain is not
	// changed (a resubmitted chain only resets its result slots).
	// A one-atom chain whose addresses are written: materialize() has
	// nothing to redo (and cannot throw).
	bool materialized_one_atom() const noexcept { return materialized_ && atoms_.size() == 1; }

	abi::atom* materialize(std::uint64_t extra_first_flags = 0)
	{
		if (materialized_one_atom()) { // a one-shot: nothing to redo
			abi::atom* first = atoms_.data();
			atom_extra& extra = *extras_.data();
			extra.result = not_run;
			first->flags = extra.flags | extra_first_flags;
			return first;
		}
		return materialize_all(extra_first_flags);
	}

	abi::atom* materialize_all(std::uint64_t extra_first_flags)
	{
		const std::size_t nr_atoms = atoms_.size();
		if (nr_atoms == 0)
			contract_violation("syslet::chain: submitting an empty chain");
		if (!materialized_) {
			for (std::size_t i = 0; i < nr_atoms; ++i)
				for (std::size_t a = 0; a < extras_[i].nr_args; ++a)
					check_source(extras_[i].sources[a]);
			for (std::size_t i = 0; i < nr_atoms; ++i)
				write_addresses(i);
			materialized_ = true;
		}
		for (std::size_t i = 0; i < nr_atoms; ++i) {
			extras_[i].result = not_run;
			atoms_[i].flags = extras_[i].flags;
		}
		atoms_[0].flags |= extra_first_flags;
		return atoms_.data();
	}

	abi::atom* first_atom() noexcept { return atoms_.data(); }

	// Sets an atom's result slot (for a chain that ends without running).
	void set_raw_result(std::size_t atom, std::int64_t value) noexcept { extras_[atom].result = value; }

	// The system call and the value of argument @a of atom @i, if that
	// argument is a plain value (not another atom's result or a variable).
	long syscall_of(std::size_t i) const noexcept { return static_cast<long>(atoms_[i].nr); }
	std::optional<std::uint64_t> value_argument(std::size_t i, std::size_t a) const noexcept
	{
		if (a >= extras_[i].nr_args || extras_[i].sources[a].kind != source_kind::value)
			return std::nullopt;
		return extras_[i].values[a];
	}

	// The atom whose result argument @a of atom @i is, if it is one.
	std::optional<std::size_t> result_argument(std::size_t i, std::size_t a) const noexcept
	{
		if (a >= extras_[i].nr_args || extras_[i].sources[a].kind != source_kind::atom_result ||
		    extras_[i].sources[a].index >= atoms_.size())
			return std::nullopt;
		return extras_[i].sources[a].index;
	}

	std::size_t index_of(std::uint64_t atom_address) const noexcept
	{
		const std::uint64_t first = abi::address_of(atoms_.data());
		if (atom_address == first)
			return 0; // (a one-atom chain: no division)
		const std::uint64_t offset = atom_address - first;
		if (atom_address < first || offset % sizeof(abi::atom) != 0 ||
		    offset / sizeof(abi::atom) >= atoms_.size())
			return completion::unknown_atom;
		return offset / sizeof(abi::atom);
	}

	completion completed_at(std::uint64_t atom_address, completion_path path) const noexcept
	{
		completion done;
		done.final_atom = index_of(atom_address);
		done.path = path;
		if (done.final_atom != completion::unknown_atom)
			done.value = extras_[done.final_atom].result;
		return done;
	}

	void mark_in_flight(chain_owner& owner) noexcept
	{
		owner_.store(&owner, std::memory_order_relaxed);
		finished_.reset();
		failure_.clear();
		status_.store(status::in_flight, std::memory_order_release);
	}

	// (@keep_owner: the owner delivers the chain's last completion at
	// the moment, and clears it when that delivery ends.)
	void mark_idle(bool keep_owner = false) noexcept
	{
		if (!keep_owner)
			owner_.store(nullptr, std::memory_order_relaxed);
		status_.store(status::idle, std::memory_order_release);
	}

	void mark_failed(std::error_code error) noexcept
	{
		owner_.store(nullptr, std::memory_order_relaxed);
		finished_.reset();
		failure_.set(error);
		status_.store(status::done, std::memory_order_release);
	}

	// Records the completion (the chain is done from now on); the owner
	// stays set while a delivery is pending or under way (the ring clears
	// it when the delivery has ended).
	void record(const completion& done, bool delivery_follows) noexcept
	{
		finished_ = done;
		// (A chain submitted again from its own callback, which then
		// completed with no delivery to follow: the delivery under way
		// still needs the owner, and clears it when it ends.)
		if (!delivery_follows && links.delivering == 0)
			owner_.store(nullptr, std::memory_order_relaxed);
		status_.store(status::done, std::memory_order_release);
	}

	bool wants_delivery() const noexcept { return callback_ || continuation_; }

	// (The ring delivers: it copies the callback and runs the copy, which
	// may replace the chain's callback or submit the chain again.)
	const completion_callback& callback() const noexcept { return callback_; }

	const std::optional<completion>& finished() const noexcept { return finished_; }
	// (The failure's error_code, made when asked: std::error_code{}
	// calls std::system_category(), code a process's first operation
	// need not touch.)
	bool failed() const noexcept { return failure_.failed(); }
	std::error_code failure() const noexcept { return failure_.code(); }
	chain_owner* owner() const noexcept { return owner_.load(std::memory_order_acquire); }
	void clear_owner() noexcept { owner_.store(nullptr, std::memory_order_release); }

	void set_callback(completion_callback callback) { callback_ = std::move(callback); }
	void set_continuation(std::coroutine_handle<> continuation) noexcept { continuation_ = continuation; }
	std::coroutine_handle<> take_continuation() noexcept { return std::exchange(continuation_, {}); }

	void set_timeout(std::optional<std::chrono::nanoseconds> timeout) noexcept { timeout_ = timeout; }
	std::optional<std::chrono::nanoseconds> timeout() const noexcept { return timeout_; }

	// Back to a fresh chain, keeping the storage it grew (for reuse).
	void reset() noexcept
	{
		// (What a one-shot leaves as it was is tested, not stored: a
		// chain per operation goes through here every time.)
		atoms_.clear();
		extras_.clear();
		variables_.clear();
		strings_.clear();
		if (!objects_.empty() || callback_)
			drop_objects_and_callback();
		if (strings_.has_chunks() || atoms_.on_heap() || variables_.data() != nullptr)
			release_grown_storage();
		status_.store(status::idle, std::memory_order_relaxed);
		owner_.store(nullptr, std::memory_order_relaxed);
		finished_.reset();
		failure_.clear();
		continuation_ = {};
		timeout_.reset();
		materialized_ = false;
		links = {};
	}

	// The heap storage this state keeps for reuse (grown arrays, string
	// chunks), in bytes.
	std::size_t retained_bytes() const noexcept
	{
		return atoms_.heap_bytes() + extras_.heap_bytes() + strings_.chunk_bytes() +
		       variables_.capacity() * sizeof(std::uint64_t) +
		       objects_.capacity() * sizeof(std::shared_ptr<void>);
	}

	// (Out of line: what reset() rarely has to do.)
	[[gnu::noinline]] void drop_objects_and_callback() noexcept
	{
		objects_.clear();
		if (objects_.capacity() > max_kept_elements)
			std::vector<std::shared_ptr<void>>().swap(objects_);
		callback_ = nullptr;
	}

	// What a chain state going back to the cache keeps of the storage it
	// grew: a chain of up to max_kept_elements atoms, variables and
	// objects, with a default chunk of path strings, reuses it without
	// allocating; more is freed (a cache of 64 states must not keep
	// every long path or long chain a thread ever made).
	static constexpr std::size_t max_kept_elements = 16;

	[[gnu::noinline]] void release_grown_storage() noexcept
	{
		strings_.clear_and_trim();
		atoms_.release_heap_beyond(max_kept_elements);
		extras_.release_heap_beyond(max_kept_elements);
		if (variables_.capacity() > max_kept_elements)
			std::vector<std::uint64_t>().swap(variables_);
	}

	// Bookkeeping of the ring the chain is in flight on (ring.hpp), under
	// that ring's lock.
	struct ring_links {
		chain_state* prev = nullptr;  // in-flight list
		chain_state* next = nullptr;  // in-flight list
		chain_state* ready = nullptr; // delivery queue
		// On the delivery queue.
		bool delivery_pending = false;
		// Deliveries under way: taken off the queue by a reaping thread,
		// whose callback (or resumed coroutine) has not returned yet.
		// The ring gives an orphaned chain's state back only when this is
		// 0 and the chain is neither in flight nor on the queue.
		std::uint32_t delivering = 0;
		chain_state* delivering_prev = nullptr; // the ring's list of chains
		chain_state* delivering_next = nullptr; // with deliveries under way
		bool orphaned = false;                  // the chain object went away: the ring frees it
		bool pooled = false;                    // runs in the fallback worker pool
		bool queued = false;                    // waits in the ring for a kernel pool thread
		bool kernel = false;                    // given to the kernel, may hold a pool thread
		bool cancelled = false;
		int cancel_reason = 0;
		clock::time_point deadline = clock::time_point::max();
		// Set while the submitting thread is inside async_exec() (or
		// the fallback's pool_exec()) for this chain: see launch_ticket.
		launch_ticket* launch = nullptr;
	};
	ring_links links;

	// Built in static storage (chain_state_cache's spare): never deleted.
	bool in_static_storage = false;

private:
	enum class source_kind : std::uint8_t { none, value, atom_result, variable };
	// (8 bytes: an atom_extra stays small, and so does a chain_state, which
	// keeps a one-shot's first allocation in malloc's small-bin range.)
	struct source_ref {
		source_kind kind = source_kind::none;
		std::uint32_t index = 0; // an index past 2^32 - 1 is stored as that: invalid
	};
	static std::uint32_t narrow_index(std::size_t index) noexcept
	{
		return index > std::numeric_limits<std::uint32_t>::max()
			       ? std::numeric_limits<std::uint32_t>::max()
			       : static_cast<std::uint32_t>(index);
	}
	struct atom_extra {
		std::array<source_ref, abi::max_args> sources{};
		std::array<std::uint64_t, abi::max_args> values{};
		std::uint64_t flags = 0;
		std::int64_t result = not_run;
		std::size_t next = no_next;
		std::uint8_t nr_args = 0;
		bool ended_explicitly = false;
	};

	source_ref make_source(const arg& a, std::uint64_t& value_slot)
	{
		struct visitor {
			chain_state& chain;
			std::uint64_t& value_slot;
			source_ref operator()(std::uint64_t value) const
			{
				value_slot = value;
				return {source_kind::value, 0};
			}
			source_ref operator()(atom_ref ref) const
			{
				return {source_kind::atom_result, narrow_index(ref.index)};
			}
			source_ref operator()(var_ref ref) const
			{
				return {source_kind::variable, narrow_index(ref.index)};
			}
			source_ref operator()(const owned_string& text) const
			{
				value_slot = abi::address_of(chain.store_string(text.text));
				return {source_kind::value, 0};
			}
		};
		return std::visit(visitor{*this, value_slot}, a.get());
	}

	void check_source(const source_ref& source) const
	{
		if (source.kind == source_kind::atom_result && source.index >= atoms_.size())
			contract_violation("syslet::chain: argument refers to an atom that does not exist");
		if (source.kind == source_kind::variable && source.index >= variables_.size())
			contract_violation(
				"syslet::chain: argument refers to a variable that does not exist");
	}

	std::uint64_t address_of_source(const source_ref& source, std::uint64_t& value_slot)
	{
		switch (source.kind) {
		case source_kind::value:
			return abi::address_of(&value_slot);
		case source_kind::atom_result:
			return abi::address_of(&extras_[source.index].result);
		case source_kind::variable:
			return abi::address_of(&variables_[source.index]);
		case source_kind::none:
			break;
		}
		return 0;
	}

	// Writes atom @i's addresses: its result slot, its next atom, its
	// arguments (the rest 0: the kernel reads up to the first 0) and the
	// chain it belongs to.
	void write_addresses(std::size_t i) noexcept
	{
		abi::atom& atom = atoms_[i];
		atom_extra& extra = extras_[i];
		atom.ret_ptr = abi::address_of(&extra.result);
		atom.next = extra.next == no_next ? 0 : abi::address_of(&atoms_[extra.next]);
		for (std::size_t a = 0; a < abi::max_args; ++a)
			atom.arg_ptr[a] =
				a < extra.nr_args ? address_of_source(extra.sources[a], extra.values[a]) : 0;
		abi::user_data(atom) = abi::address_of(this);
	}

	void check_atom(std::size_t atom) const
	{
		if (atom >= atoms_.size())
			contract_violation("syslet::chain: no such atom");
	}

	void require_not_in_flight() const
	{
		if (state() == status::in_flight)
			contract_violation("syslet::chain: the chain is in flight");
	}

	small_vector<abi::atom, 2> atoms_; // contiguous: SKIP_TO_NEXT_ON_STOP needs atom + 1
	small_vector<atom_extra, 2> extras_;
	std::vector<std::uint64_t> variables_;
	string_arena strings_;
	std::vector<std::shared_ptr<void>> objects_;

	bool materialized_ = false; // the atoms hold the current addresses
	std::atomic<status> status_{status::idle};
	std::atomic<chain_owner*> owner_{nullptr};
	std::optional<completion> finished_;
	detail::stored_error failure_;
	completion_callback callback_;
	std::coroutine_handle<> continuation_;
	std::optional<std::chrono::nanoseconds> timeout_;
};

// True only if this is certainly the main thread, whose static TLS lives
// as long as the process: no other thread was ever made.
inline bool known_main_thread() noexcept
{
#if __has_include(<sys/single_threaded.h>)
	return __libc_single_threaded != 0;
#else
	return false;
#endif
}

// This thread's state of the library: the chain state cache and the
// default ring (oneshot.hpp).  One thread_local object, so that a thread's
// first operation registers one destructor with the C++ runtime, not one
// per object (a registration costs about 360 guest instructions, a
// calloc() among them).  At thread exit the default ring goes first (it
// waits for its chains, which come back to the cache), then the cache.
class thread_context
{
public:
	static constexpr std::size_t max_cached = 64;

	static thread_context& get() noexcept
	{
		thread_local thread_context context;
		return context;
	}

	thread_context(const thread_context&) = delete;
	thread_context& operator=(const thread_context&) = delete;
	inline ~thread_context();

	// The chain state cache (chain_state_cache).
	std::array<chain_state*, max_cached> states{};
	std::size_t count = 0;
	bool gone = false; // destroyed: states given back are freed

	// The default ring, made by default_ring() in default_ring_room.
	void* default_ring = nullptr;
	void (*destroy_default_ring)(void*) noexcept = nullptr;
	alignas(void*) unsigned char default_ring_room[sizeof(void*)]{};

private:
	thread_context() = default;
};

// Chain states are reused through a small per-thread cache, so that a
// program that makes one chain per operation (async_stat() & co.)
// allocates nothing per operation once warm.  The cache is a few hundred
// bytes of thread-local storage: static TLS sits right below the thread
// pointer, on the page the thread's own descriptor is on, which is
// touched before main() (glibc, x86-64), so it costs the first operation
// no page fault, where a heap allocation may cost one (about 5,000
// instructions: the new page is zeroed).  For the same reason the main
// thread's very first chain state is not allocated either: it is built in
// static storage (spare_state) that lives as long as the process; it is
// cached and reused like any other, never freed.  (Other threads allocate
// their first one: their chains may outlive them.)
class chain_state_cache
{
public:
	static constexpr std::size_t max_cached = thread_context::max_cached;

	chain_state_cache() = delete;

	static chain_state* take()
	{
		thread_context& cache = thread_context::get();
		if (cache.count > 0)
			return cache.states[--cache.count];
		if (chain_state* spare = spare_state())
			return spare;
		return new chain_state; // NOLINT(cppcoreguidelines-owning-memory)
	}

	static void give_back(chain_state* state) noexcept
	{
		if (state == nullptr)
			return;
		state->reset();
		if (thread_context& cache = thread_context::get(); !cache.gone && cache.count < max_cached) {
			cache.states[cache.count++] = state;
			return;
		}
		dispose(state);
	}

	static void dispose(chain_state* state) noexcept
	{
		if (state->in_static_storage)
			state->~chain_state(); // (its storage is never freed)
		else
			delete state; // NOLINT(cppcoreguidelines-owning-memory)
	}

private:
	// Room for one chain state in static TLS, constant-initialized (no
	// guard, no destructor to register); used by the main thread only.
	struct spare_room {
		alignas(chain_state) unsigned char bytes[sizeof(chain_state)];
		bool asked;
	};

	// The main thread's first chain state; nullptr elsewhere or later.
	static chain_state* spare_state()
	{
		static constinit thread_local spare_room room{};
		if (room.asked)
			return nullptr;
		room.asked = true; // (once per thread, whatever the answer)
		if (!known_main_thread())
			return nullptr;
		auto* state = new (room.bytes) chain_state;
		state->in_static_storage = true;
		return state;
	}
};

thread_context::~thread_context()
{
	if (destroy_default_ring != nullptr) {
		// The ring stays this thread's default while it drains: a
		// callback that the drain delivers may submit more through
		// default_ring(), and the drain waits for that too.  Cleared
		// only once it is gone, so nothing is made on top of it.
		destroy_default_ring(default_ring);
		default_ring = nullptr;
		destroy_default_ring = nullptr;
	}
	gone = true;
	while (count > 0)
		chain_state_cache::dispose(states[--count]);
}
} // namespace detail

// A chain of atoms and the storage its arguments and results live in.
// Move-only.  Not thread-safe: use a chain on one thread at a time (its
// completion may be delivered by a reap on another thread, see ring.hpp).
// Dropping a chain returned by async_*() or a chain constructor is a
// mistake the compiler reports: (void) it to mean "run it anyway".
class [[nodiscard]] chain
{
public:
	chain() : state_(detail::chain_state_cache::take()) {}
	// (Delegating: if add() throws, the destructor gives the state back.)
	chain(const call& c, atom_flags flags = {}) : chain() { add(c, flags); } // NOLINT: implicit
	chain(const chain&) = delete;
	chain& operator=(const chain&) = delete;
	chain(chain&& other) noexcept : state_(std::exchange(other.state_, nullptr)) {}
	chain& operator=(chain&& other) noexcept
	{
		if (this != &other) {
			release();
			state_ = std::exchange(other.state_, nullptr);
		}
		return *this;
	}
	~chain() { release(); }

	// Appends an atom running @c; the previous atom's `next` becomes it.
	atom_ref add(const call& c, atom_flags flags = {}) { return {state().add(c, flags)}; }
	atom_ref add(long nr, std::initializer_list<arg> args, atom_flags flags = {})
	{
		return add(call(nr, args), flags);
	}

	void link(atom_ref from, atom_ref to) { state().link(from.index, to.index); }
	void end_after(atom_ref atom) { state().end_after(atom.index); }

	var_ref variable(std::uint64_t initial = 0) { return {state().add_variable(initial)}; }
	std::uint64_t get(var_ref v) const { return state().variable(v.index); }
	void set(var_ref v, std::uint64_t value) { state().set_variable(v.index, value); }

	// An object owned by the chain, e.g. a struct stat an atom fills in.
	template <class T, class... Args>
	T& emplace(Args&&... args)
	{
		auto object = std::make_shared<T>(std::forward<Args>(args)...);
		T& reference = *object;
		state().keep_alive(std::move(object));
		return reference;
	}

	// A zero-filled buffer owned by the chain.
	std::span<std::byte> buffer(std::size_t size)
	{
		std::shared_ptr<std::byte[]> bytes(new std::byte[size]());
		std::span<std::byte> view(bytes.get(), size);
		state().keep_alive(std::shared_ptr<void>(bytes, bytes.get()));
		return view;
	}

	std::size_t size() const { return state().size(); }
	bool idle() const { return state().state() == detail::chain_state::status::idle; }
	bool in_flight() const { return state().state() == detail::chain_state::status::in_flight; }
	bool done() const { return state().state() == detail::chain_state::status::done; }

	// The completion, once done (empty if submission failed).
	const std::optional<completion>& finished() const { return state().finished(); }

	// The result of the atom the chain ended on; an error while the chain
	// is not done, or the reason submission failed.  A chain cancelled
	// before it started (or while it was interrupted) has ECANCELED, one
	// whose timeout expired ETIMEDOUT.
	syscall_result result() const
	{
		if (state().failed())
			return state().failure();
		if (!done())
			return errno_code(in_flight() ? EINPROGRESS : EAGAIN);
		return finished()->result();
	}

	// The result of one atom; ECANCELED if it did not run.
	syscall_result result(atom_ref atom) const
	{
		const std::int64_t value = state().raw_result(atom.index);
		if (value == detail::not_run)
			return errno_code(ECANCELED);
		return from_kernel_return(value);
	}

	// Called once per completion, cached or reaped, with the completion.
	// Never from inside submit(): a completion is delivered by the next
	// reap(), wait() or drain() of the ring (or chain::wait()), on the
	// thread that reaps.  The chain's storage stays alive until the
	// callback has returned, even if the chain object is dropped meanwhile.
	void on_complete(completion_callback callback) { state().set_callback(std::move(callback)); }

	// A time limit for each submission of this chain, counted from
	// submit(): when it expires while the chain is still in flight, the
	// chain is cancelled (see cancel()) and, if that succeeds, completes
	// with ETIMEDOUT.  Checked by reap(), wait() and drain().
	void set_timeout(std::optional<std::chrono::nanoseconds> timeout) { state().set_timeout(timeout); }

	// Waits (reaping the ring it is on) until the chain is done and its
	// completion delivered: its callback has returned, also when another
	// thread delivers it (but not from inside that callback itself, which
	// may wait for its own chain: that returns at once).  ETIMEDOUT if
	// @timeout passed first (the chain stays in flight); EOWNERDEAD if its
	// ring was destroyed.
	[[nodiscard]] syslet::result<void>
	wait(std::optional<std::chrono::nanoseconds> timeout = std::nullopt)
	{
		detail::chain_owner* owner = state().owner();
		if (owner == nullptr)
			return in_flight() ? syslet::result<void>(errno_code(EOWNERDEAD))
					   : syslet::result<void>();
		return owner->wait_for(state(), timeout);
	}

	// Asks the ring to cancel the chain (see ring::cancel()).
	[[nodiscard]] syslet::result<void> cancel()
	{
		detail::chain_owner* owner = state().owner();
		if (owner == nullptr || !in_flight())
			return errno_code(ENOENT);
		return owner->cancel(state(), ECANCELED);
	}

	detail::chain_state& state()
	{
		if (state_ == nullptr)
			detail::contract_violation("syslet::chain: used after move");
		return *state_;
	}
	const detail::chain_state& state() const
	{
		if (state_ == nullptr)
			detail::contract_violation("syslet::chain: used after move");
		return *state_;
	}

private:
	void release() noexcept
	{
		detail::chain_state* state = std::exchange(state_, nullptr);
		if (state == nullptr)
			return;
		if (state->state() == detail::chain_state::status::in_flight && state->owner() == nullptr)
			return; // its ring was destroyed: the kernel may still write to it
		if (detail::chain_owner* owner = state->owner();
		    owner != nullptr && owner->adopt_if_busy(*state))
			return;
		detail::chain_state_cache::give_back(state);
	}

	detail::chain_state* state_;
};

} // namespace syslet
