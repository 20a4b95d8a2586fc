import { Button } from "react-aria-components";
import { Link } from "react-router";

import { dismiss, useNotices } from "./notifications";

/** A polite live region: screen readers announce each notice; each can be dismissed. */
export function Notifications() {
  const notices = useNotices();
  return (
    <section className="notices" aria-label="Notifications" aria-live="polite">
      {notices.map((notice) => (
        <div key={notice.id} className={`notice notice-${notice.tone}`} role="status">
          {notice.href ? <Link to={notice.href}>{notice.text}</Link> : <span>{notice.text}</span>}
          <Button aria-label="Dismiss notification" onPress={() => dismiss(notice.id)}>
            ×
          </Button>
        </div>
      ))}
    </section>
  );
}
