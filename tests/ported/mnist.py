# Ported from pytorch/examples, mnist/main.py
#   https://github.com/pytorch/examples/blob/main/mnist/main.py
#   BSD 3-Clause License, Copyright (c) 2017, Pytorch contributors
# Converted by the mechanical rename torch -> arrayneedle only; every other change is marked
# with a `# PORT:` comment.
import argparse
import arrayneedle
import arrayneedle.nn as nn
import arrayneedle.nn.functional as F
import arrayneedle.optim as optim
# PORT: torchvision (datasets, transforms) removed; run() builds a synthetic MNIST-shaped batch
from arrayneedle.optim.lr_scheduler import StepLR


class Net(nn.Module):
    def __init__(self):
        super(Net, self).__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, 1)  # PORT: 32 channels upstream
        self.conv2 = nn.Conv2d(8, 16, 3, 1)  # PORT: 64 channels upstream
        self.dropout1 = nn.Dropout(0.25)
        self.dropout2 = nn.Dropout(0.5)
        self.fc1 = nn.Linear(2304, 128)  # PORT: 9216 = 64 * 12 * 12 upstream
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):
        x = self.conv1(x)
        x = F.relu(x)
        x = self.conv2(x)
        x = F.relu(x)
        x = F.max_pool2d(x, 2)
        x = self.dropout1(x)
        x = arrayneedle.flatten(x, 1)
        x = self.fc1(x)
        x = F.relu(x)
        x = self.dropout2(x)
        x = self.fc2(x)
        output = F.log_softmax(x, dim=1)
        return output


def train(args, model, device, train_loader, optimizer, epoch):
    model.train()
    for batch_idx, (data, target) in enumerate(train_loader):
        data, target = data.to(device), target.to(device)
        optimizer.zero_grad()
        output = model(data)
        loss = F.nll_loss(output, target)
        loss.backward()
        optimizer.step()
        if batch_idx % args.log_interval == 0:
            print('Train Epoch: {} [{}/{} ({:.0f}%)]\tLoss: {:.6f}'.format(
                epoch, batch_idx * len(data), len(train_loader.dataset),
                100. * batch_idx / len(train_loader), loss.item()))
            if args.dry_run:
                break
    return loss.item()  # PORT: return the last loss so run() can report it


def test(model, device, test_loader):
    model.eval()
    test_loss = 0
    correct = 0
    with arrayneedle.no_grad():
        for data, target in test_loader:
            data, target = data.to(device), target.to(device)
            output = model(data)
            test_loss += F.nll_loss(output, target, reduction='sum').item()  # sum up batch loss
            pred = output.argmax(dim=1, keepdim=True)  # get the index of the max log-probability
            correct += pred.eq(target.view_as(pred)).sum().item()

    test_loss /= len(test_loader.dataset)

    print('\nTest set: Average loss: {:.4f}, Accuracy: {}/{} ({:.0f}%)\n'.format(
        test_loss, correct, len(test_loader.dataset),
        100. * correct / len(test_loader.dataset)))
    return test_loss, correct  # PORT: return the metrics so run() can report them


# PORT: main() (argparse, accelerator choice, torchvision MNIST download, model saving) replaced
# by run(): the same model, optimizer, scheduler and train()/test() calls on a synthetic batch,
# one batch per epoch. `batch` and `init(model)` let a test feed fixed data and weights.
def run(steps=3, batch=None, init=None):
    args = argparse.Namespace(batch_size=8, test_batch_size=8, epochs=steps, lr=1.0, gamma=0.7,
                              dry_run=False, seed=1, log_interval=10, save_model=False)

    arrayneedle.manual_seed(args.seed)
    device = arrayneedle.device("cpu")

    train_kwargs = {'batch_size': args.batch_size}
    test_kwargs = {'batch_size': args.test_batch_size}

    if batch is None:
        batch = (arrayneedle.randn(8, 1, 28, 28), arrayneedle.randint(0, 10, (8,)))
    dataset1 = arrayneedle.utils.data.TensorDataset(*batch)
    dataset2 = arrayneedle.utils.data.TensorDataset(*batch)
    train_loader = arrayneedle.utils.data.DataLoader(dataset1, **train_kwargs)
    test_loader = arrayneedle.utils.data.DataLoader(dataset2, **test_kwargs)

    model = Net().to(device)
    if init is not None:
        init(model)
    optimizer = optim.Adadelta(model.parameters(), lr=args.lr)

    scheduler = StepLR(optimizer, step_size=1, gamma=args.gamma)
    losses = []
    for epoch in range(1, args.epochs + 1):
        losses.append(train(args, model, device, train_loader, optimizer, epoch))
        test(model, device, test_loader)
        scheduler.step()
    return losses
