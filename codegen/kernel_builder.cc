#include "codegen/kernel_builder.h"

#include "codegen/elemental.h"

#include "llvm/IR/Intrinsics.h"

namespace kiln::codegen {

KernelBuilder::KernelBuilder(llvm::Module& module, std::string cpu, std::string features, int lanes)
    : module_(module),
      b_(module.getContext()),
      cpu_(std::move(cpu)),
      features_(std::move(features)),
      lanes_(lanes),
      target_(MakeTargetInfo(lanes)) {
  // FMA contraction only: results stay close to the interpreter's, and reductions keep their
  // order (so they do not depend on the thread count).
  llvm::FastMathFlags fmf;
  fmf.setAllowContract(true);
  b_.setFastMathFlags(fmf);
}

void KernelBuilder::Begin(const std::string& name) {
  auto* ptr = b_.getPtrTy();
  auto* type =
      llvm::FunctionType::get(b_.getVoidTy(), {ptr, b_.getInt64Ty(), b_.getInt64Ty()}, false);
  fn_ = llvm::Function::Create(type, llvm::Function::ExternalLinkage, name, module_);
  fn_->addFnAttr("target-cpu", cpu_);
  fn_->addFnAttr("target-features", features_);
  if (lanes_ == 16) {
    fn_->addFnAttr("prefer-vector-width", "512");
    fn_->addFnAttr("min-legal-vector-width", "512");
  }
  fn_->addFnAttr(llvm::Attribute::NoUnwind);
  fn_->addParamAttr(0, llvm::Attribute::NoAlias);
  table_ = fn_->getArg(0);
  table_->setName("buffers");
  begin_ = fn_->getArg(1);
  begin_->setName("task_begin");
  end_ = fn_->getArg(2);
  end_->setName("task_end");
  b_.SetInsertPoint(llvm::BasicBlock::Create(ctx(), "entry", fn_));
}

void KernelBuilder::End() { b_.CreateRetVoid(); }

llvm::Value* KernelBuilder::Buffer(int buffer) {
  llvm::Value* slot = b_.CreateConstInBoundsGEP1_64(b_.getPtrTy(), table_, buffer);
  auto* load = b_.CreateLoad(b_.getPtrTy(), slot, "buf" + std::to_string(buffer));
  load->setMetadata(llvm::LLVMContext::MD_invariant_load, llvm::MDNode::get(ctx(), {}));
  return load;
}

llvm::Value* KernelBuilder::F(float v) { return llvm::ConstantFP::get(F32(), v); }

void KernelBuilder::For(llvm::Value* lo, llvm::Value* hi, int64_t step,
                        const std::function<void(llvm::Value*)>& body, const char* name) {
  llvm::BasicBlock* pre = b_.GetInsertBlock();
  llvm::Function* f = pre->getParent();
  auto* header = llvm::BasicBlock::Create(ctx(), std::string(name) + ".head", f);
  auto* loop_body = llvm::BasicBlock::Create(ctx(), std::string(name) + ".body", f);
  auto* exit = llvm::BasicBlock::Create(ctx(), std::string(name) + ".exit", f);
  b_.CreateBr(header);
  b_.SetInsertPoint(header);
  llvm::PHINode* i = b_.CreatePHI(b_.getInt64Ty(), 2, name);
  i->addIncoming(lo, pre);
  b_.CreateCondBr(b_.CreateICmpSLT(i, hi), loop_body, exit);
  b_.SetInsertPoint(loop_body);
  body(i);
  llvm::Value* next = b_.CreateAdd(i, I(step), std::string(name) + ".next", true, true);
  i->addIncoming(next, b_.GetInsertBlock());
  b_.CreateBr(header);
  b_.SetInsertPoint(exit);
}

std::vector<llvm::Value*> KernelBuilder::EntrySlots(llvm::Type* type, int64_t count) {
  llvm::Function* f = b_.GetInsertBlock()->getParent();
  llvm::IRBuilder<> entry(&f->getEntryBlock(), f->getEntryBlock().begin());
  std::vector<llvm::Value*> slots(count);
  for (auto& slot : slots) slot = entry.CreateAlloca(type);
  return slots;
}

void KernelBuilder::If(llvm::Value* cond, const std::function<void()>& then) {
  llvm::Function* f = b_.GetInsertBlock()->getParent();
  auto* then_bb = llvm::BasicBlock::Create(ctx(), "then", f);
  auto* done = llvm::BasicBlock::Create(ctx(), "endif", f);
  b_.CreateCondBr(cond, then_bb, done);
  b_.SetInsertPoint(then_bb);
  then();
  b_.CreateBr(done);
  b_.SetInsertPoint(done);
}

void KernelBuilder::IfElse(llvm::Value* cond, const std::function<void()>& then,
                           const std::function<void()>& otherwise) {
  llvm::Function* f = b_.GetInsertBlock()->getParent();
  auto* then_bb = llvm::BasicBlock::Create(ctx(), "then", f);
  auto* else_bb = llvm::BasicBlock::Create(ctx(), "else", f);
  auto* done = llvm::BasicBlock::Create(ctx(), "endif", f);
  b_.CreateCondBr(cond, then_bb, else_bb);
  b_.SetInsertPoint(then_bb);
  then();
  b_.CreateBr(done);
  b_.SetInsertPoint(else_bb);
  otherwise();
  b_.CreateBr(done);
  b_.SetInsertPoint(done);
}

llvm::Value* KernelBuilder::Ptr(llvm::Value* base, llvm::Value* index, bool i32) {
  return b_.CreateInBoundsGEP(i32 ? b_.getInt32Ty() : F32(), base, index);
}

llvm::Value* KernelBuilder::Load(llvm::Value* base, llvm::Value* index, bool i32) {
  return b_.CreateLoad(i32 ? b_.getInt32Ty() : F32(), Ptr(base, index, i32));
}

void KernelBuilder::Store(llvm::Value* value, llvm::Value* base, llvm::Value* index) {
  b_.CreateStore(value, Ptr(base, index, value->getType()->isIntegerTy()));
}

llvm::Value* KernelBuilder::VLoad(llvm::Value* base, llvm::Value* index, int lanes, int valid) {
  llvm::Value* p = Ptr(base, index);
  if (valid >= lanes) return b_.CreateAlignedLoad(Vec(lanes), p, llvm::Align(4));
  std::vector<llvm::Constant*> bits;
  for (int l = 0; l < lanes; ++l) bits.push_back(b_.getInt1(l < valid));
  return b_.CreateMaskedLoad(Vec(lanes), p, llvm::Align(4), llvm::ConstantVector::get(bits),
                             llvm::Constant::getNullValue(Vec(lanes)));
}

void KernelBuilder::VStore(llvm::Value* value, llvm::Value* base, llvm::Value* index, int valid) {
  const int lanes =
      static_cast<int>(llvm::cast<llvm::FixedVectorType>(value->getType())->getNumElements());
  llvm::Value* p = Ptr(base, index);
  if (valid >= lanes) {
    b_.CreateAlignedStore(value, p, llvm::Align(4));
    return;
  }
  std::vector<llvm::Constant*> bits;
  for (int l = 0; l < lanes; ++l) bits.push_back(b_.getInt1(l < valid));
  b_.CreateMaskedStore(value, p, llvm::Align(4), llvm::ConstantVector::get(bits));
}

llvm::Value* KernelBuilder::Fma(llvm::Value* a, llvm::Value* b, llvm::Value* c) {
  return b_.CreateIntrinsic(llvm::Intrinsic::fmuladd, {a->getType()}, {a, b, c});
}

llvm::Value* KernelBuilder::Exp(llvm::Value* x) {
  return EmitExp(b_, x);
}

llvm::Value* KernelBuilder::Max(llvm::Value* a, llvm::Value* b) {
  return b_.CreateBinaryIntrinsic(llvm::Intrinsic::maxnum, a, b);
}

llvm::Value* KernelBuilder::Sqrt(llvm::Value* x) {
  return b_.CreateUnaryIntrinsic(llvm::Intrinsic::sqrt, x);
}

llvm::Value* KernelBuilder::InRange(llvm::Value* i, int64_t n) {
  // Unsigned compare: negative indices wrap to huge values.
  return b_.CreateICmpULT(i, I(n));
}

llvm::Value* KernelBuilder::Clamp(llvm::Value* i, int64_t n) {
  llvm::Value* lo = b_.CreateSelect(b_.CreateICmpSLT(i, I(0)), I(0), i);
  return b_.CreateSelect(b_.CreateICmpSGT(lo, I(n - 1)), I(n - 1), lo);
}

}  // namespace kiln::codegen
