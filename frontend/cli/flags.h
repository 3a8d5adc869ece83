// Accessors for the flags defined in kiln.cc, so commands need not see ABSL_FLAG definitions.
#ifndef KILN_FRONTEND_CLI_FLAGS_H_
#define KILN_FRONTEND_CLI_FLAGS_H_

#include <cstdint>
#include <string>

namespace kiln::cli {
std::string FlagModel();
std::string FlagFormat();
std::string FlagGraph();
std::string FlagStage();
int64_t FlagBatch();
uint64_t FlagSeed();
std::string FlagImage();
std::string FlagData();
double FlagValidationSplit();  // --data DIR.
bool FlagSkipBadFiles();       // --data DIR.
int FlagEpochs();
std::string FlagOptimizer();
std::string FlagLoss();
double FlagLr();
double FlagMomentum();
bool FlagNesterov();
int64_t FlagLimit();
int64_t FlagTestLimit();
double FlagStopAtAccuracy();
int FlagPatience();
bool FlagJson();
std::string FlagBackend();
int FlagThreads();
int FlagRepeats();
bool FlagProfile();
double FlagTolerance();
double FlagEpsilon();
// viz flags: `kiln viz ...`, `train --plot`, `dump --render`.
std::string FlagKernel();
int64_t FlagPool();
std::string FlagLayer();
std::string FlagIndex();
std::string FlagChannels();
std::string FlagOut();
std::string FlagPlot();
std::string FlagRender();
// bench: thread scaling and the PyTorch peer (issue 5).
bool FlagScaling();
bool FlagVsTorch();
bool FlagZoo();
std::string FlagTorchScript();
// export: ahead-of-time compilation (issue 6).
std::string FlagTargetCpu();
// Saved models and checkpoints (issue 6).
bool FlagSpecified(const char* name);  // Set to a value other than its default.
std::string FlagSave();
std::string FlagCheckpointDir();
std::string FlagResume();
}  // namespace kiln::cli

#endif  // KILN_FRONTEND_CLI_FLAGS_H_
