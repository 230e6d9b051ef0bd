# Ported from pytorch/examples, vae/main.py
#   https://github.com/pytorch/examples/blob/main/vae/main.py
#   BSD 3-Clause License, Copyright (c) 2017, Pytorch contributors
# Converted by the mechanical rename torch -> arrayneedle only; every other change is marked
# with a `# PORT:` comment.
from __future__ import print_function
import argparse
import arrayneedle
import arrayneedle.utils.data
from arrayneedle import nn, optim
from arrayneedle.nn import functional as F
# PORT: torchvision (datasets, transforms, utils.save_image) removed; run() builds synthetic
# [0, 1] images in MNIST's shape. The argparse/accelerator/data-loader module level moved to run().


class VAE(nn.Module):
    def __init__(self):
        super(VAE, self).__init__()

        self.fc1 = nn.Linear(784, 400)
        self.fc21 = nn.Linear(400, 20)
        self.fc22 = nn.Linear(400, 20)
        self.fc3 = nn.Linear(20, 400)
        self.fc4 = nn.Linear(400, 784)

    def encode(self, x):
        h1 = F.relu(self.fc1(x))
        return self.fc21(h1), self.fc22(h1)

    def reparameterize(self, mu, logvar):
        std = arrayneedle.exp(0.5*logvar)
        eps = arrayneedle.randn_like(std)
        return mu + eps*std

    def decode(self, z):
        h3 = F.relu(self.fc3(z))
        return arrayneedle.sigmoid(self.fc4(h3))

    def forward(self, x):
        mu, logvar = self.encode(x.view(-1, 784))
        z = self.reparameterize(mu, logvar)
        return self.decode(z), mu, logvar


# Reconstruction + KL divergence losses summed over all elements and batch
def loss_function(recon_x, x, mu, logvar):
    BCE = F.binary_cross_entropy(recon_x, x.view(-1, 784), reduction='sum')

    # see Appendix B from VAE paper:
    # Kingma and Welling. Auto-Encoding Variational Bayes. ICLR, 2014
    # https://arxiv.org/abs/1312.6114
    # 0.5 * sum(1 + log(sigma^2) - mu^2 - sigma^2)
    KLD = -0.5 * arrayneedle.sum(1 + logvar - mu.pow(2) - logvar.exp())

    return BCE + KLD


def train(epoch):
    model.train()
    train_loss = 0
    for batch_idx, (data, _) in enumerate(train_loader):
        data = data.to(device)
        optimizer.zero_grad()
        recon_batch, mu, logvar = model(data)
        loss = loss_function(recon_batch, data, mu, logvar)
        loss.backward()
        train_loss += loss.item()
        optimizer.step()
        if batch_idx % args.log_interval == 0:
            print('Train Epoch: {} [{}/{} ({:.0f}%)]\tLoss: {:.6f}'.format(
                epoch, batch_idx * len(data), len(train_loader.dataset),
                100. * batch_idx / len(train_loader),
                loss.item() / len(data)))

    print('====> Epoch: {} Average loss: {:.4f}'.format(
          epoch, train_loss / len(train_loader.dataset)))
    return train_loss / len(train_loader.dataset)  # PORT: return the loss so run() can report it


def test(epoch):
    model.eval()
    test_loss = 0
    with arrayneedle.no_grad():
        for i, (data, _) in enumerate(test_loader):
            data = data.to(device)
            recon_batch, mu, logvar = model(data)
            test_loss += loss_function(recon_batch, data, mu, logvar).item()
            if i == 0:
                n = min(data.size(0), 8)
                comparison = arrayneedle.cat([data[:n],
                                      recon_batch.view(args.batch_size, 1, 28, 28)[:n]])
                # PORT: save_image(comparison.cpu(), 'results/reconstruction_...png') removed
                assert comparison.cpu().shape == (2 * n, 1, 28, 28)  # PORT: checks it instead

    test_loss /= len(test_loader.dataset)
    print('====> Test set loss: {:.4f}'.format(test_loss))


# PORT: the module level and the `__main__` loop as a function; batch 8 (128 upstream),
# `steps` epochs over one synthetic batch; the sample is checked, not saved. `images` and
# `init(model)` let a test feed fixed data and weights.
def run(steps=3, images=None, init=None):
    global args, device, train_loader, test_loader, model, optimizer
    args = argparse.Namespace(batch_size=8, epochs=steps, no_accel=True, seed=1, log_interval=10)

    use_accel = not args.no_accel and arrayneedle.accelerator.is_available()

    arrayneedle.manual_seed(args.seed)

    if use_accel:
        device = arrayneedle.accelerator.current_accelerator()
    else:
        device = arrayneedle.device("cpu")

    if images is None:
        images = arrayneedle.rand(8, 1, 28, 28)
    dataset = arrayneedle.utils.data.TensorDataset(images, arrayneedle.zeros(len(images)))
    kwargs = {'num_workers': 1, 'pin_memory': True} if use_accel else {}
    train_loader = arrayneedle.utils.data.DataLoader(dataset,
        batch_size=args.batch_size, shuffle=True, **kwargs)
    test_loader = arrayneedle.utils.data.DataLoader(dataset,
        batch_size=args.batch_size, shuffle=False, **kwargs)

    model = VAE().to(device)
    if init is not None:
        init(model)
    optimizer = optim.Adam(model.parameters(), lr=1e-3)

    losses = []
    for epoch in range(1, args.epochs + 1):
        losses.append(train(epoch))
        test(epoch)
        with arrayneedle.no_grad():
            sample = arrayneedle.randn(64, 20).to(device)
            sample = model.decode(sample).cpu()
            # PORT: save_image(sample.view(64, 1, 28, 28), 'results/sample_...png') removed
            assert sample.view(64, 1, 28, 28).shape == (64, 1, 28, 28)  # PORT: checks it instead
    return losses
