import keras
import numpy as np

from keras_vit.training import ThroughputMeter


def test_logs_a_rate_per_epoch_and_a_steady_median():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    model.compile("sgd", "mse")
    meter = ThroughputMeter(batch_size=8)
    history = model.fit(np.ones((32, 4)), np.ones((32, 2)), batch_size=8, epochs=4, callbacks=[meter], verbose=0)
    assert len(meter.per_epoch) == 4 and all(rate > 0 for rate in meter.per_epoch)
    assert history.history["images_per_second"] == meter.per_epoch
    later = sorted(meter.per_epoch[1:])
    assert meter.steady_images_per_second() == later[1]  # median of three, first epoch excluded
