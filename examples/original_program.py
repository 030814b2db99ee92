"""The Code Review program (October 2018), written the way it was, checked by mlplab.

The class below follows the original: XOR with a constant third input, a 3-4-1
sigmoid network without biases, weights uniform on [0, 1), and a ``backprop``
that applies ``sigmoid_derivative`` to the layers' *outputs*, where the chain
rule needs it at their inputs. Two small functions adapt the class to
``mlplab.check_gradients``, which names the mistake. Run it:

    python examples/original_program.py
"""

import numpy as np

import mlplab


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def sigmoid_derivative(x):
    return sigmoid(x) * (1.0 - sigmoid(x))


class NeuralNetwork:
    def __init__(self, x, y, seed=0):
        rng = np.random.default_rng(seed)
        self.input = x
        self.weights1 = rng.random((self.input.shape[1], 4))
        self.weights2 = rng.random((4, 1))
        self.y = y
        self.output = np.zeros(self.y.shape)

    def feedforward(self):
        self.layer1 = sigmoid(np.dot(self.input, self.weights1))
        self.output = sigmoid(np.dot(self.layer1, self.weights2))

    def backprop(self):
        # The original's "gradients": descent directions (added to the weights),
        # with the derivative taken at the outputs, s'(s(z)) instead of s'(z).
        delta2 = 2 * (self.y - self.output) * sigmoid_derivative(self.output)
        d_weights2 = np.dot(self.layer1.T, delta2)
        delta1 = np.dot(delta2, self.weights2.T) * sigmoid_derivative(self.layer1)
        d_weights1 = np.dot(self.input.T, delta1)
        return d_weights1, d_weights2


X = np.array([[0, 0, 1], [0, 1, 1], [1, 0, 1], [1, 1, 1]], dtype=float)
Y = np.array([[0], [1], [1], [0]], dtype=float)
nn = NeuralNetwork(X, Y)


# The two adapters: set the weights, then ask the class for its loss / gradients.
def loss(params):
    nn.weights1, nn.weights2 = params["weights1"], params["weights2"]
    nn.feedforward()
    return float(np.sum((nn.y - nn.output) ** 2))


def gradients(params):
    nn.weights1, nn.weights2 = params["weights1"], params["weights2"]
    nn.feedforward()
    d_weights1, d_weights2 = nn.backprop()
    return {"weights1": -d_weights1, "weights2": -d_weights2}  # descent -> gradient


if __name__ == "__main__":
    start = {"weights1": nn.weights1.copy(), "weights2": nn.weights2.copy()}
    report = mlplab.check_gradients(loss, gradients, start)
    print(report.text())
