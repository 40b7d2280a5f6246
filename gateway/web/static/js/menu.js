// A menu button's popup, usable from the keyboard (the WAI-ARIA menu
// button pattern): the button says whether its menu is open
// (aria-expanded); opening it with Enter or Space puts the focus on the
// first item, ArrowDown on the button opens it too; in the menu,
// ArrowDown and ArrowUp (wrapping), Home and End move between the items
// shown, Escape closes it and gives the focus back to the button, Tab
// closes it and moves on. Opening, closing and the actions stay the
// caller's (clicks).
export function menuButton(button, menu) {
  const items = () => [...menu.querySelectorAll('[role=menuitem]')].filter((el) => !el.hidden);
  const expanded = () => button.setAttribute('aria-expanded', String(!menu.hidden));
  expanded();
  new MutationObserver(expanded).observe(menu, { attributes: true, attributeFilter: ['hidden'] });
  // A click from the keyboard (Enter, Space) has no pointer: detail 0.
  button.addEventListener('click', (e) => {
    if (e.detail === 0 && !menu.hidden) items()[0]?.focus();
  });
  button.addEventListener('keydown', (e) => {
    if (e.key !== 'ArrowDown' || !menu.hidden) return;
    e.preventDefault();
    e.stopPropagation();
    button.click();
  });
  menu.addEventListener('keydown', (e) => {
    const list = items();
    const i = list.indexOf(document.activeElement);
    let next = null;
    if (e.key === 'ArrowDown') next = list[(i + 1) % list.length];
    else if (e.key === 'ArrowUp') next = list[(i - 1 + list.length) % list.length];
    else if (e.key === 'Home') next = list[0];
    else if (e.key === 'End') next = list[list.length - 1];
    else if (e.key === 'Escape') {
      menu.hidden = true;
      button.focus();
    } else {
      if (e.key === 'Tab') menu.hidden = true;
      return;
    }
    e.preventDefault();
    e.stopPropagation();
    next?.focus();
  });
}
