# Ported from kuangliu/pytorch-cifar: models/resnet.py (the model) and main.py (the training step)
#   https://github.com/kuangliu/pytorch-cifar/blob/master/models/resnet.py
#   https://github.com/kuangliu/pytorch-cifar/blob/master/main.py
#   MIT License, Copyright (c) 2017 liukuang
# Converted by the mechanical rename torch -> arrayneedle only; every other change is marked
# with a `# PORT:` comment.
'''ResNet in PyTorch.

For Pre-activation ResNet, see 'preact_resnet.py'.

Reference:
[1] Kaiming He, Xiangyu Zhang, Shaoqing Ren, Jian Sun
    Deep Residual Learning for Image Recognition. arXiv:1512.03385
'''
import arrayneedle
import arrayneedle.nn as nn
import arrayneedle.nn.functional as F
import arrayneedle.optim as optim  # PORT: from main.py


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, in_planes, planes, stride=1):
        super(BasicBlock, self).__init__()
        self.conv1 = nn.Conv2d(
            in_planes, planes, kernel_size=3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, kernel_size=3,
                               stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)

        self.shortcut = nn.Sequential()
        if stride != 1 or in_planes != self.expansion*planes:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_planes, self.expansion*planes,
                          kernel_size=1, stride=stride, bias=False),
                nn.BatchNorm2d(self.expansion*planes)
            )

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out += self.shortcut(x)
        out = F.relu(out)
        return out


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, in_planes, planes, stride=1):
        super(Bottleneck, self).__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, kernel_size=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, kernel_size=3,
                               stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, self.expansion *
                               planes, kernel_size=1, bias=False)
        self.bn3 = nn.BatchNorm2d(self.expansion*planes)

        self.shortcut = nn.Sequential()
        if stride != 1 or in_planes != self.expansion*planes:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_planes, self.expansion*planes,
                          kernel_size=1, stride=stride, bias=False),
                nn.BatchNorm2d(self.expansion*planes)
            )

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        out += self.shortcut(x)
        out = F.relu(out)
        return out


class ResNet(nn.Module):
    def __init__(self, block, num_blocks, num_classes=10):
        super(ResNet, self).__init__()
        self.in_planes = 4  # PORT: widths 64/128/256/512 shrunk to 4/8/16/32

        self.conv1 = nn.Conv2d(3, 4, kernel_size=3,
                               stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(4)
        self.layer1 = self._make_layer(block, 4, num_blocks[0], stride=1)
        self.layer2 = self._make_layer(block, 8, num_blocks[1], stride=2)
        self.layer3 = self._make_layer(block, 16, num_blocks[2], stride=2)
        self.layer4 = self._make_layer(block, 32, num_blocks[3], stride=2)
        self.linear = nn.Linear(32*block.expansion, num_classes)

    def _make_layer(self, block, planes, num_blocks, stride):
        strides = [stride] + [1]*(num_blocks-1)
        layers = []
        for stride in strides:
            layers.append(block(self.in_planes, planes, stride))
            self.in_planes = planes * block.expansion
        return nn.Sequential(*layers)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layer1(out)
        out = self.layer2(out)
        out = self.layer3(out)
        out = self.layer4(out)
        out = F.avg_pool2d(out, 4)
        out = out.view(out.size(0), -1)
        out = self.linear(out)
        return out


def ResNet18():
    return ResNet(BasicBlock, [2, 2, 2, 2])


def ResNet34():
    return ResNet(BasicBlock, [3, 4, 6, 3])


def ResNet50():
    return ResNet(Bottleneck, [3, 4, 6, 3])


def ResNet101():
    return ResNet(Bottleneck, [3, 4, 23, 3])


def ResNet152():
    return ResNet(Bottleneck, [3, 8, 36, 3])


def test():
    net = ResNet18()
    y = net(arrayneedle.randn(1, 3, 32, 32))
    print(y.size())

# test()


# ---- from main.py ----
# PORT: argparse, torchvision CIFAR10 + transforms, DataParallel/cudnn, checkpoint resume/saving
# and utils.progress_bar removed; train(epoch) and test(epoch) are main.py's, over globals that
# run() sets the way main.py's module level does.
def progress_bar(current, total, msg=None):  # PORT: stands in for utils.progress_bar
    print(current, total, msg)


def train(epoch):
    net.train()
    train_loss = 0
    correct = 0
    total = 0
    for batch_idx, (inputs, targets) in enumerate(trainloader):
        inputs, targets = inputs.to(device), targets.to(device)
        optimizer.zero_grad()
        outputs = net(inputs)
        loss = criterion(outputs, targets)
        loss.backward()
        optimizer.step()

        train_loss += loss.item()
        _, predicted = outputs.max(1)
        total += targets.size(0)
        correct += predicted.eq(targets).sum().item()

        progress_bar(batch_idx, len(trainloader), 'Loss: %.3f | Acc: %.3f%% (%d/%d)'
                     % (train_loss/(batch_idx+1), 100.*correct/total, correct, total))
    return train_loss / (batch_idx + 1)  # PORT: return the mean loss so run() can report it


def test(epoch):
    global best_acc
    net.eval()
    test_loss = 0
    correct = 0
    total = 0
    with arrayneedle.no_grad():
        for batch_idx, (inputs, targets) in enumerate(testloader):
            inputs, targets = inputs.to(device), targets.to(device)
            outputs = net(inputs)
            loss = criterion(outputs, targets)

            test_loss += loss.item()
            _, predicted = outputs.max(1)
            total += targets.size(0)
            correct += predicted.eq(targets).sum().item()

            progress_bar(batch_idx, len(testloader), 'Loss: %.3f | Acc: %.3f%% (%d/%d)'
                         % (test_loss/(batch_idx+1), 100.*correct/total, correct, total))

    # Save checkpoint.
    acc = 100.*correct/total
    if acc > best_acc:
        # PORT: checkpoint saving removed
        best_acc = acc


# PORT: main.py's module level as a function; synthetic CIFAR-shaped batch, `steps` epochs of
# one batch. `batch` and `init(net)` let a test feed fixed data and weights.
def run(steps=3, batch=None, init=None):
    global device, best_acc, trainloader, testloader, net, criterion, optimizer, scheduler
    arrayneedle.manual_seed(1)
    device = 'cuda' if arrayneedle.cuda.is_available() else 'cpu'
    device = 'cpu'  # PORT: the test runs on the CPU
    best_acc = 0  # best test accuracy
    if batch is None:
        batch = (arrayneedle.randn(4, 3, 32, 32), arrayneedle.randint(0, 10, (4,)))
    trainset = arrayneedle.utils.data.TensorDataset(*batch)
    trainloader = arrayneedle.utils.data.DataLoader(
        trainset, batch_size=4, shuffle=True, num_workers=0)
    testloader = arrayneedle.utils.data.DataLoader(
        trainset, batch_size=4, shuffle=False, num_workers=0)

    net = ResNet18()
    net = net.to(device)
    if init is not None:
        init(net)

    criterion = nn.CrossEntropyLoss()
    optimizer = optim.SGD(net.parameters(), lr=0.1,
                          momentum=0.9, weight_decay=5e-4)
    scheduler = arrayneedle.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=200)

    losses = []
    for epoch in range(0, steps):
        losses.append(train(epoch))
        test(epoch)
        scheduler.step()
    return losses
