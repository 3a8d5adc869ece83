// End-to-end: the seed CNN trained on a real MNIST subset must learn. Needs the real data
// (scripts/fetch_data.sh mnist, which scripts/test.sh runs); set KILN_REQUIRE_DATA=1 to make its
// absence a failure instead of a skip.
#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "frontend/builtin_models.h"
#include "frontend/datasets.h"
#include "gtest/gtest.h"

namespace kiln {
namespace {

TEST(EndToEnd, SeedCnnLearnsRealMnistSubset) {
  const std::string probe = DataDir() + "/mnist/t10k-labels-idx1-ubyte";
  if (!std::filesystem::exists(probe)) {
    const char* require = std::getenv("KILN_REQUIRE_DATA");
    if (require && std::string(require) == "1") FAIL() << "MNIST missing from " << DataDir();
    GTEST_SKIP() << "MNIST not in " << DataDir() << "; run scripts/fetch_data.sh mnist";
  }
  auto data = LoadDataset("mnist", /*fetch_if_missing=*/false);
  ASSERT_TRUE(data.ok()) << data.status();
  ASSERT_EQ(data->train.size(), 60000);
  ASSERT_EQ(data->test.size(), 10000);
  const Dataset train = data->train.Slice(0, 2000);
  const Dataset test = data->test.Slice(0, 1000);

  auto model = BuiltinModel("mnist-cnn", /*seed=*/1);
  ASSERT_TRUE(model.ok());
  auto before = model->Evaluate(test, 250);
  ASSERT_TRUE(before.ok()) << before.status();
  ASSERT_TRUE(model->Compile(Optimizer::Adam()).ok());
  Model::FitOptions fit;
  fit.epochs = 2;
  fit.batch_size = 48;  // 2000 = 41 * 48 + 32: the ragged last batch is trained on too.
  fit.seed = 1;
  fit.verbose = 0;
  auto history = model->Fit(train, fit);
  ASSERT_TRUE(history.ok()) << history.status();
  ASSERT_EQ(history->epochs.size(), 2u);
  EXPECT_LT(history->epochs[1].at("loss"), history->epochs[0].at("loss"));
  auto after = model->Evaluate(test, 250);
  ASSERT_TRUE(after.ok()) << after.status();
  // Stated threshold: 2 epochs on 2,000 real images reach >= 87% on 1,000 test images (measured
  // 0.892 on the interpreter and 0.891 on the JIT, the default backend, with this seed); an
  // untrained net scores about 10%.
  std::printf("[ measured ] test accuracy %.4f before, %.4f after 2 epochs (loss %.4f)\n",
              before->accuracy, after->accuracy, after->loss);
  EXPECT_LT(before->accuracy, 0.3);
  EXPECT_GE(after->accuracy, 0.87) << "test loss " << after->loss;
}

}  // namespace
}  // namespace kiln
