"""The plots' cost counted both ways in one window run: once (the code now) and as before a3be053 (a paint inside the
scene's queued call counted by the paint and again by the call). python count_twice.py 1500"""
import os, sys, time, tempfile
os.environ["QT_QPA_PLATFORM"] = "offscreen"
from PySide6.QtWidgets import QApplication
from PySide6.QtCore import QCoreApplication, QEventLoop, QEvent
app = QApplication([])
from gan_studio.app.main_window import MainWindow
from gan_studio.core.presets import load_preset
if __name__ == "__main__":
    win = MainWindow(load_preset("ring8"), runs_dir=tempfile.mkdtemp()); win.show()
    t0 = time.time()
    while win.state.session is None and time.time() - t0 < 60: QCoreApplication.processEvents(); time.sleep(0.01)
    canvas = win.plots.canvas
    extra = [0.0, 0]
    def filt(obj, ev):
        if ev.type() != QEvent.Type.MetaCall: return False
        t = time.thread_time(); before = canvas.cpu_s
        obj.event(ev)
        el = time.thread_time() - t; nested = canvas.cpu_s - before
        extra[0] += nested; extra[1] += nested > 0
        canvas.cpu_s = before + max(el, nested)
        return True
    canvas._scene_work.eventFilter = filt
    loop = QEventLoop()
    win.worker.target_reached.connect(lambda s: loop.quit())
    win.worker.run_steps(200); loop.exec()
    r0, c0, e0 = win.plots.redraws, win.plots.cpu_s, extra[0]; th = time.thread_time()
    win.worker.run_steps(int(sys.argv[1])); loop.exec()
    n = win.plots.redraws - r0
    new = win.plots.cpu_s - c0; old = new + extra[0] - e0
    print(f"redraws {n}; plots cost per redraw: counted once {1000*new/n:.1f} ms, as before {1000*old/n:.1f} ms, ratio {old/new:.2f}; calls that painted {extra[1]}; GUI thread per redraw {1000*(time.thread_time()-th)/n:.1f} ms")
    win.close()
