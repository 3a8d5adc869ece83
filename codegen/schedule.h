// Schedules: how a kernel's loops map onto the target (register tiles, cache blocks, task
// sizes), chosen from what the target has and the shapes, never from literals in an emitter.
// The algorithm (what a kernel computes) stays in the emitters; this header says how big.
#ifndef KILN_CODEGEN_SCHEDULE_H_
#define KILN_CODEGEN_SCHEDULE_H_

#include <cstdint>

namespace kiln::codegen {

// What schedules are chosen from. Caches are read from the host (sysfs) once.
struct TargetInfo {
  int lanes = 16;               // f32 lanes per vector: 16 with AVX-512, 8 with AVX2.
  int vector_registers = 32;    // Architectural vector registers: 32 with AVX-512, 16 with AVX2.
  int64_t l1_bytes = 32 << 10;  // Per-core data caches.
  int64_t l2_bytes = 1 << 20;
};
// The host's caches, with the register file of a target of `lanes` lanes.
TargetInfo MakeTargetInfo(int lanes);

// A register tile of a contraction: `rows` broadcast operands x `vectors` vector operands,
// rows * vectors accumulators. Chosen to maximize multiply-adds per load, rows*v / (rows+v),
// with the accumulators, the vector operands and one broadcast in the register file.
struct RegisterTile {
  int64_t rows = 1, vectors = 1;
};
// `vectors`: the vectors the output row has (the tile takes at most 4 of them); `max_rows`: the
// most rows the loop offers (pixels of a row, matrix rows, filter combos).
RegisterTile ChooseRegisterTile(const TargetInfo& t, int64_t vectors, int64_t max_rows);

// Elements an elementwise or update task covers: a quarter of L1 per stream, so a task's
// inputs and outputs stay in L1 and tasks are many enough to balance. A multiple of the lanes.
int64_t ElementwiseChunk(const TargetInfo& t);

// An epilogue program costing more than this many primitive operations per element
// (ProgramCost) runs as a vector loop over each finished row of a tile, read back from L1,
// rather than on every accumulator register where the kernel stores it: inlined at each store
// site of a register-blocked kernel, a GELU or a sigmoid multiplies the kernel's code and
// crowds its accumulators out of registers.
inline constexpr double kMaxInlineEpilogueCost = 8;

// Tasks whose summed work (in multiply-adds or elements) is about `work_per_chunk` per handout.
int64_t GrainFor(const TargetInfo& t, double work_per_task);

}  // namespace kiln::codegen

#endif  // KILN_CODEGEN_SCHEDULE_H_
