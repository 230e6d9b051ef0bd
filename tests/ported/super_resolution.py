# Ported from pytorch/examples, super_resolution/model.py (the model) and main.py (train/test)
#   https://github.com/pytorch/examples/blob/main/super_resolution/model.py
#   https://github.com/pytorch/examples/blob/main/super_resolution/main.py
#   BSD 3-Clause License, Copyright (c) 2017, Pytorch contributors
# Converted by the mechanical rename torch -> arrayneedle only; every other change is marked
# with a `# PORT:` comment.
import argparse
from math import log10

import arrayneedle
import arrayneedle.nn as nn
import arrayneedle.nn.init as init
import arrayneedle.optim as optim
from arrayneedle.utils.data import DataLoader
# PORT: data.get_training_set/get_test_set (BSDS300 download) replaced by a synthetic batch.


# ---- model.py ----
class Net(nn.Module):
    def __init__(self, upscale_factor):
        super(Net, self).__init__()

        self.relu = nn.ReLU()
        # PORT: channels 64/64/32 upstream
        self.conv1 = nn.Conv2d(1, 16, (5, 5), (1, 1), (2, 2))
        self.conv2 = nn.Conv2d(16, 16, (3, 3), (1, 1), (1, 1))
        self.conv3 = nn.Conv2d(16, 8, (3, 3), (1, 1), (1, 1))
        self.conv4 = nn.Conv2d(8, upscale_factor ** 2, (3, 3), (1, 1), (1, 1))
        self.pixel_shuffle = nn.PixelShuffle(upscale_factor)

        self._initialize_weights()

    def forward(self, x):
        x = self.relu(self.conv1(x))
        x = self.relu(self.conv2(x))
        x = self.relu(self.conv3(x))
        x = self.pixel_shuffle(self.conv4(x))
        return x

    def _initialize_weights(self):
        init.orthogonal_(self.conv1.weight, init.calculate_gain('relu'))
        init.orthogonal_(self.conv2.weight, init.calculate_gain('relu'))
        init.orthogonal_(self.conv3.weight, init.calculate_gain('relu'))
        init.orthogonal_(self.conv4.weight)


# ---- main.py ----
def train(epoch):
    epoch_loss = 0
    for iteration, batch in enumerate(training_data_loader, 1):
        input, target = batch[0].to(device), batch[1].to(device)

        optimizer.zero_grad()
        loss = criterion(model(input), target)
        epoch_loss += loss.item()
        loss.backward()
        optimizer.step()

        print("===> Epoch[{}]({}/{}): Loss: {:.4f}".format(epoch, iteration, len(training_data_loader), loss.item()))

    print("===> Epoch {} Complete: Avg. Loss: {:.4f}".format(epoch, epoch_loss / len(training_data_loader)))
    return epoch_loss / len(training_data_loader)  # PORT: return the loss so run() can report it


def test():
    avg_psnr = 0
    with arrayneedle.no_grad():
        for batch in testing_data_loader:
            input, target = batch[0].to(device), batch[1].to(device)

            prediction = model(input)
            mse = criterion(prediction, target)
            psnr = 10 * log10(1 / mse.item())
            avg_psnr += psnr
    print("===> Avg. PSNR: {:.4f} dB".format(avg_psnr / len(testing_data_loader)))


# PORT: main.py's module level as a function: argparse defaults (upscale 3, lr 0.01), a
# synthetic 4 x 1 x 8 x 8 -> 4 x 1 x 24 x 24 batch instead of BSDS300 crops, `steps` epochs,
# no checkpoints. `batch` and `init(model)` let a test feed fixed data and weights.
def run(steps=3, batch=None, init=None):
    global device, training_data_loader, testing_data_loader, model, criterion, optimizer
    opt = argparse.Namespace(upscale_factor=3, batchSize=4, testBatchSize=4, nEpochs=steps,
                             lr=0.01, accel=False, threads=0, seed=123)

    arrayneedle.manual_seed(opt.seed)
    device = arrayneedle.device("cpu")

    if batch is None:
        target = arrayneedle.rand(4, 1, 24, 24)
        batch = (target[:, :, ::3, ::3].contiguous(), target)
    train_set = arrayneedle.utils.data.TensorDataset(*batch)
    test_set = train_set
    training_data_loader = DataLoader(dataset=train_set, num_workers=opt.threads, batch_size=opt.batchSize, shuffle=True)
    testing_data_loader = DataLoader(dataset=test_set, num_workers=opt.threads, batch_size=opt.testBatchSize, shuffle=False)

    model = Net(upscale_factor=opt.upscale_factor).to(device)
    if init is not None:
        init(model)
    criterion = nn.MSELoss()

    optimizer = optim.Adam(model.parameters(), lr=opt.lr)

    losses = []
    for epoch in range(1, opt.nEpochs + 1):
        losses.append(train(epoch))
        test()
    return losses
